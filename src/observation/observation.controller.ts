import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { SkipWriteQueue } from '../common/limits/write-admission.interceptor';
import { ObservationService, type StoredObservation } from './observation.service';

@ApiTags('clusters')
@Controller('clusters/:id/observation')
export class ObservationController {
  constructor(private readonly observations: ObservationService) {}

  /** Reads the cluster now (failover across its nodes, bounded by timeouts) and stores the result. */
  @Post()
  @HttpCode(200)
  @RequireRole('operator')
  @SkipWriteQueue()
  observe(@Param('id', ParseUUIDPipe) id: string): Promise<StoredObservation> {
    return this.observations.observe(id);
  }

  /** The last stored observation. */
  @Get()
  @RequireRole('viewer')
  last(@Param('id', ParseUUIDPipe) id: string): Promise<StoredObservation> {
    return this.observations.last(id);
  }
}
