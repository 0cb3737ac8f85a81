import { Body, Controller, Get, Param, ParseUUIDPipe, Put, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { DomainException } from '../common/errors/domain.exception';
import { HealthService, type LinkHealthView } from './health.service';
import { HealthThresholdsDto, SamplesQueryDto } from './probes.dto';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';
import {
  LinkHealthViewDto,
  ProbePathView,
  ProbeSamplesView,
  SiteHealthView,
} from './probes.responses';

const pathIdPattern = /^(federation|shovel):[0-9a-f-]{36}:[0-9a-f-]{36}$/;

@ApiTags('health')
@ApiTokenProblems()
@Controller()
export class ProbesController {
  constructor(private readonly health: HealthService) {}

  /** Health from data that crossed: probe lag and loss, broker link state, alarms, backlog. */
  @Get('links/federation/:id/health')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get the health of a federation link',
    description:
      "Health judged from data that actually crossed: probe lag and loss on the link's path, the broker's own link state, resource alarms on either side and backlog growth. `reasons` say why a link is not healthy; `values` hold the measurements.",
  })
  @ApiOkResponse({ type: LinkHealthViewDto })
  @ApiProblems(400, 404)
  federation(@Param('id', ParseUUIDPipe) id: string): Promise<LinkHealthView> {
    return this.health.link('federation', id);
  }

  @Get('links/shovels/:id/health')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get the health of a shovel',
    description:
      "Health judged from data that actually crossed: probe lag and loss on the link's path, the broker's own link state, resource alarms on either side and backlog growth. `reasons` say why a link is not healthy; `values` hold the measurements. A completed one-shot shovel is `completed`.",
  })
  @ApiOkResponse({ type: LinkHealthViewDto })
  @ApiProblems(400, 404)
  shovel(@Param('id', ParseUUIDPipe) id: string): Promise<LinkHealthView> {
    return this.health.link('shovel', id);
  }

  /** Per-link thresholds (omitted fields fall back to defaults from the sites' expected RTT). */
  @Put('links/federation/:id/health/thresholds')
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Set the health thresholds of a federation link',
    description:
      "Per-link thresholds; omitted fields fall back to defaults derived from the sites' expected RTT and the probe interval. Returns the health judged with them.",
  })
  @ApiOkResponse({ type: LinkHealthViewDto })
  @ApiBodyProblems()
  @ApiProblems(404)
  federationThresholds(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: HealthThresholdsDto,
  ): Promise<LinkHealthView> {
    return this.health.setThresholds('federation', id, dto);
  }

  @Put('links/shovels/:id/health/thresholds')
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Set the health thresholds of a shovel',
    description:
      'Per-shovel thresholds; omitted fields fall back to the defaults. Returns the health judged with them.',
  })
  @ApiOkResponse({ type: LinkHealthViewDto })
  @ApiBodyProblems()
  @ApiProblems(404)
  shovelThresholds(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: HealthThresholdsDto,
  ): Promise<LinkHealthView> {
    return this.health.setThresholds('shovel', id, dto);
  }

  /** Every link touching the site, with the worst state among them. */
  @Get('sites/:id/health')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get the health of a site',
    description:
      "Every federation link and shovel touching one of the site's clusters, with the worst state among them (`unknown` when there are none).",
  })
  @ApiOkResponse({ type: SiteHealthView })
  @ApiProblems(400, 404)
  site(@Param('id', ParseUUIDPipe) id: string) {
    return this.health.site(id);
  }

  @Get('probes/paths')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List probe paths',
    description:
      'The cluster-to-cluster paths probes travel (one per direction and link kind, shared by the links on it) with their last minute of samples. The list is complete in one page: `nextCursor` is always null.',
  })
  @ApiPage(ProbePathView)
  async paths() {
    // Bounded by the registry's links: one page, shaped like every other list.
    return { items: await this.health.paths(), nextCursor: null as string | null };
  }

  /** Probe samples of one path: raw, or downsampled with `step` seconds. */
  @Get('probes/paths/:pathId/samples')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get the probe samples of a path',
    description:
      'Raw samples (at most 10,000), or with `step` a downsampled series of buckets that many seconds wide (minute roll-ups beyond the raw retention). Default range: the last 15 minutes.',
  })
  @ApiOkResponse({ type: ProbeSamplesView })
  @ApiProblems(400)
  samples(@Param('pathId') pathId: string, @Query() q: SamplesQueryDto) {
    if (!pathIdPattern.test(pathId))
      throw DomainException.validation([
        { field: 'pathId', message: 'pathId must look like federation:<cluster id>:<cluster id>' },
      ]);
    return this.health.samples(pathId, q);
  }
}
