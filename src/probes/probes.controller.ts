import { Body, Controller, Get, Param, ParseUUIDPipe, Put, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { DomainException } from '../common/errors/domain.exception';
import { HealthService, type LinkHealthView } from './health.service';
import { HealthThresholdsDto, SamplesQueryDto } from './probes.dto';

const pathIdPattern = /^(federation|shovel):[0-9a-f-]{36}:[0-9a-f-]{36}$/;

@ApiTags('health')
@Controller()
export class ProbesController {
  constructor(private readonly health: HealthService) {}

  /** Health from data that crossed: probe lag and loss, broker link state, alarms, backlog. */
  @Get('links/federation/:id/health')
  @RequireRole('viewer')
  federation(@Param('id', ParseUUIDPipe) id: string): Promise<LinkHealthView> {
    return this.health.link('federation', id);
  }

  @Get('links/shovels/:id/health')
  @RequireRole('viewer')
  shovel(@Param('id', ParseUUIDPipe) id: string): Promise<LinkHealthView> {
    return this.health.link('shovel', id);
  }

  /** Per-link thresholds (omitted fields fall back to defaults from the sites' expected RTT). */
  @Put('links/federation/:id/health/thresholds')
  @RequireRole('operator')
  federationThresholds(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: HealthThresholdsDto,
  ): Promise<LinkHealthView> {
    return this.health.setThresholds('federation', id, dto);
  }

  @Put('links/shovels/:id/health/thresholds')
  @RequireRole('operator')
  shovelThresholds(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: HealthThresholdsDto,
  ): Promise<LinkHealthView> {
    return this.health.setThresholds('shovel', id, dto);
  }

  /** Every link touching the site, with the worst state among them. */
  @Get('sites/:id/health')
  @RequireRole('viewer')
  site(@Param('id', ParseUUIDPipe) id: string) {
    return this.health.site(id);
  }

  @Get('probes/paths')
  @RequireRole('viewer')
  paths() {
    return this.health.paths();
  }

  /** Probe samples of one path: raw, or downsampled with `step` seconds. */
  @Get('probes/paths/:pathId/samples')
  @RequireRole('viewer')
  samples(@Param('pathId') pathId: string, @Query() q: SamplesQueryDto) {
    if (!pathIdPattern.test(pathId))
      throw DomainException.validation([
        { field: 'pathId', message: 'pathId must look like federation:<cluster id>:<cluster id>' },
      ]);
    return this.health.samples(pathId, q);
  }
}
