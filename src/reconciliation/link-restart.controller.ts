import { Controller, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { LinkRestartService, type LinkRestartView } from './link-restart.service';
import { ApiProblems, ApiTokenProblems } from '../common/openapi/api-responses';
import { ErrorCode } from '../common/errors/error-codes';
import { LinkRestartViewDto } from './reconciliation.responses';

@ApiTags('links')
@RequireRole('operator')
@ApiTokenProblems()
@Controller('links')
export class LinkRestartController {
  constructor(private readonly restarts: LinkRestartService) {}

  /**
   * Restarts this link's broker links (one per federated exchange or queue, on the node running
   * it); links of the same exchange or queue from other upstreams are untouched. Audited.
   */
  @Post('federation/:id/restart')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Restart a federation link on the broker',
    description:
      "Asks the downstream cluster's broker to restart the running federation links of this link (one per federated exchange or queue); the answer says, per broker link, whether the restart happened. Writes no registry state.",
  })
  @ApiOkResponse({ type: LinkRestartViewDto })
  @ApiProblems(400, 404, ErrorCode.Conflict, 502, ErrorCode.BrokerUnavailable)
  federation(@Param('id', ParseUUIDPipe) id: string): Promise<LinkRestartView> {
    return this.restarts.federation(id);
  }

  /** Restarts this shovel on the node running it. Audited. */
  @Post('shovels/:id/restart')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Restart a shovel on the broker',
    description:
      "Asks the source cluster's broker to restart the shovel; the answer says whether it happened.",
  })
  @ApiOkResponse({ type: LinkRestartViewDto })
  @ApiProblems(400, 404, ErrorCode.Conflict, 502, ErrorCode.BrokerUnavailable)
  shovel(@Param('id', ParseUUIDPipe) id: string): Promise<LinkRestartView> {
    return this.restarts.shovel(id);
  }
}
