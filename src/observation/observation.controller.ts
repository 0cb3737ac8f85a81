import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { SkipWriteQueue } from '../common/limits/write-admission.interceptor';
import { ObservationService, type StoredObservation } from './observation.service';
import { ApiProblems, ApiTokenProblems } from '../common/openapi/api-responses';
import { ErrorCode } from '../common/errors/error-codes';
import { ClusterObservationDto } from './observation.responses';

@ApiTags('clusters')
@ApiTokenProblems()
@Controller('clusters/:id/observation')
export class ObservationController {
  constructor(private readonly observations: ObservationService) {}

  /** Reads the cluster now (failover across its nodes, bounded by timeouts) and stores the result. */
  @Post()
  @HttpCode(200)
  @RequireRole('operator')
  @SkipWriteQueue()
  @ApiOperation({
    summary: 'Observe a cluster now',
    description:
      'Reads the cluster through its management API now (failing over across its nodes, bounded by timeouts), compares it with what is declared and stores the result. An unreachable cluster is a 200 with `reachable: false` and its differences.',
  })
  @ApiOkResponse({ type: ClusterObservationDto })
  @ApiProblems(400, 404, ErrorCode.CredentialsRebindRequired)
  observe(@Param('id', ParseUUIDPipe) id: string): Promise<StoredObservation> {
    return this.observations.observe(id);
  }

  /** The last stored observation. */
  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get the last observation of a cluster',
    description:
      'The last stored observation: per-node reachability, versions, nodes, alarms, missing plugins and the differences from what is declared. 404 until the cluster was first observed.',
  })
  @ApiOkResponse({ type: ClusterObservationDto })
  @ApiProblems(400, 404)
  last(@Param('id', ParseUUIDPipe) id: string): Promise<StoredObservation> {
    return this.observations.last(id);
  }
}
