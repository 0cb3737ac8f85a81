import { Controller, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { LinkRestartService, type LinkRestartView } from './link-restart.service';

@ApiTags('links')
@RequireRole('operator')
@Controller('links')
export class LinkRestartController {
  constructor(private readonly restarts: LinkRestartService) {}

  /**
   * Restarts this link's broker links (one per federated exchange or queue, on the node running
   * it); links of the same exchange or queue from other upstreams are untouched. Audited.
   */
  @Post('federation/:id/restart')
  @HttpCode(200)
  federation(@Param('id', ParseUUIDPipe) id: string): Promise<LinkRestartView> {
    return this.restarts.federation(id);
  }

  /** Restarts this shovel on the node running it. Audited. */
  @Post('shovels/:id/restart')
  @HttpCode(200)
  shovel(@Param('id', ParseUUIDPipe) id: string): Promise<LinkRestartView> {
    return this.restarts.shovel(id);
  }
}
