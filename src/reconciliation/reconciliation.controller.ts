import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditService } from '../audit/audit.service';
import { RequireRole } from '../common/access/access.decorators';
import { SkipWriteQueue } from '../common/limits/write-admission.interceptor';
import { DomainException } from '../common/errors/domain.exception';
import { decodeCursor, defaultPageSize, encodeCursor, type Page } from '../common/http/pagination';
import type { LinkStatus } from './link-status';
import { LinkStatusService } from './link-status.service';
import { ReconcileClustersRepository } from './reconcile-clusters.repository';
import { ReconcileRunsRepository } from './reconcile-runs.repository';
import { ReconcileRequestDto, RunQueryDto } from './reconciliation.dto';
import { ReconcilerService, runView, type RunView } from './reconciler.service';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';
import { ErrorCode } from '../common/errors/error-codes';
import {
  LinkStatusDto,
  ReconcileResultView,
  RunViewDto,
  SuspensionView,
} from './reconciliation.responses';

@ApiTags('reconciliation')
@ApiTokenProblems()
@Controller()
export class ReconciliationController {
  constructor(
    private readonly clusters: ReconcileClustersRepository,
    private readonly runRecords: ReconcileRunsRepository,
    private readonly reconciler: ReconcilerService,
    private readonly audit: AuditService,
    private readonly status: LinkStatusService,
  ) {}

  /** Desired vs applied generation and the broker's live view of the link (with its error text). */
  @Get('links/federation/:id/status')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get the status of a federation link',
    description:
      "Desired vs applied generation and the broker's live view of the link, from the broker's own status lists (with the broker's error text), summed up in `verdict`. When the broker cannot be asked, `unavailable` says why (still 200).",
  })
  @ApiOkResponse({ type: LinkStatusDto })
  @ApiProblems(400, 404)
  federationStatus(@Param('id', ParseUUIDPipe) id: string): Promise<LinkStatus> {
    return this.status.federation(id);
  }

  @Get('links/shovels/:id/status')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get the status of a shovel',
    description:
      "Desired vs applied generation and the broker's live view of the link, from the broker's own status lists (with the broker's error text), summed up in `verdict`. When the broker cannot be asked, `unavailable` says why (still 200).",
  })
  @ApiOkResponse({ type: LinkStatusDto })
  @ApiProblems(400, 404)
  shovelStatus(@Param('id', ParseUUIDPipe) id: string): Promise<LinkStatus> {
    return this.status.shovel(id);
  }

  /** Reconciles now (everything, a site or a cluster) and returns the runs; dryRun returns plans only. */
  @Post('reconcile')
  @HttpCode(200)
  @RequireRole('operator')
  @SkipWriteQueue()
  @ApiOperation({
    summary: 'Reconcile now',
    description:
      'Runs a reconcile pass now for one cluster (`clusterId`), every cluster of a site (`siteId`) or every cluster, and returns the runs. `dryRun` returns the plans and writes nothing; `confirmDeletes` lets a pass past the mass-delete guard.',
  })
  @ApiOkResponse({ type: ReconcileResultView })
  @ApiBodyProblems()
  @ApiProblems(ErrorCode.ReferenceNotFound)
  async reconcile(@Body() dto: ReconcileRequestDto): Promise<{ runs: RunView[] }> {
    if (dto.clusterId && dto.siteId)
      throw DomainException.validation([
        { field: 'clusterId', message: 'give clusterId or siteId, not both' },
      ]);
    const ids = await this.clusters.idsIn({ clusterId: dto.clusterId, siteId: dto.siteId });
    if (dto.clusterId && ids.length === 0)
      throw DomainException.referenceNotFound('clusterId', 'cluster', dto.clusterId);
    if (dto.siteId && ids.length === 0 && !(await this.clusters.siteExists(dto.siteId)))
      throw DomainException.referenceNotFound('siteId', 'site', dto.siteId);
    const runs: RunView[] = [];
    for (const id of ids) {
      runs.push(
        await this.reconciler.reconcile(id, {
          trigger: dto.dryRun ? 'dry-run' : 'manual',
          dryRun: dto.dryRun,
          confirmDeletes: dto.confirmDeletes,
        }),
      );
    }
    return { runs };
  }

  /** The current plan of a cluster: what the next pass would write, with field-level changes. */
  @Get('clusters/:id/plan')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get the plan of a cluster',
    description:
      'What the next pass would write to the cluster: one create/update/delete per broker object, with field-level changes. Writes nothing.',
  })
  @ApiOkResponse({ type: RunViewDto })
  @ApiProblems(400, 404, ErrorCode.CredentialsRebindRequired)
  async plan(@Param('id', ParseUUIDPipe) id: string): Promise<RunView> {
    return this.reconciler.reconcile(id, { trigger: 'dry-run', dryRun: true });
  }

  @Get('reconcile/runs')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List reconcile runs',
    description:
      'Recorded passes, newest first, one page at a time; `?clusterId=` limits to one cluster.',
  })
  @ApiPage(RunViewDto)
  @ApiProblems(400)
  async runs(@Query() q: RunQueryDto): Promise<Page<RunView>> {
    const limit = q.limit ?? defaultPageSize;
    const rows = await this.runRecords.list({
      clusterId: q.clusterId,
      beforeSeq: q.cursor ? decodeCursor(q.cursor) : undefined,
      limit: limit + 1,
    });
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return {
      items: page.map(runView),
      nextCursor: more ? encodeCursor(page[page.length - 1].seq) : null,
    };
  }

  @Get('reconcile/runs/:runId')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get a reconcile run',
    description: 'One recorded pass with its operations and their outcomes.',
  })
  @ApiOkResponse({ type: RunViewDto })
  @ApiProblems(400, 404)
  async run(@Param('runId', ParseUUIDPipe) runId: string): Promise<RunView> {
    const r = await this.runRecords.find(runId);
    if (!r) throw DomainException.notFound('reconcile run', runId);
    return runView(r);
  }

  /** Hands off: no pass writes to this cluster until resumed (incident mode). */
  @Post('clusters/:id/suspend-reconcile')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Suspend reconciliation of a cluster',
    description:
      'Hands off (incident mode): no pass writes to this cluster until resumed. Audited.',
  })
  @ApiOkResponse({ type: SuspensionView })
  @ApiProblems(400, 404)
  suspendCluster(@Param('id', ParseUUIDPipe) id: string): Promise<{ suspended: boolean }> {
    return this.setSuspended('clusters', 'cluster', id, true);
  }

  @Post('clusters/:id/resume-reconcile')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Resume reconciliation of a cluster',
    description: 'Passes write to the cluster again. Audited.',
  })
  @ApiOkResponse({ type: SuspensionView })
  @ApiProblems(400, 404)
  resumeCluster(@Param('id', ParseUUIDPipe) id: string): Promise<{ suspended: boolean }> {
    return this.setSuspended('clusters', 'cluster', id, false);
  }

  @Post('sites/:id/suspend-reconcile')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Suspend reconciliation of a site',
    description: 'No pass writes to any cluster of the site until resumed. Audited.',
  })
  @ApiOkResponse({ type: SuspensionView })
  @ApiProblems(400, 404)
  suspendSite(@Param('id', ParseUUIDPipe) id: string): Promise<{ suspended: boolean }> {
    return this.setSuspended('sites', 'site', id, true);
  }

  @Post('sites/:id/resume-reconcile')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Resume reconciliation of a site',
    description: "Passes write to the site's clusters again. Audited.",
  })
  @ApiOkResponse({ type: SuspensionView })
  @ApiProblems(400, 404)
  resumeSite(@Param('id', ParseUUIDPipe) id: string): Promise<{ suspended: boolean }> {
    return this.setSuspended('sites', 'site', id, false);
  }

  private async setSuspended(
    table: 'clusters' | 'sites',
    label: string,
    id: string,
    suspended: boolean,
  ): Promise<{ suspended: boolean }> {
    await this.clusters.setSuspended(table, id, suspended, async (m, row) => {
      if (!row) throw DomainException.notFound(label, id);
      await this.audit.record(m, {
        action: `${label}.reconcile.${suspended ? 'suspend' : 'resume'}`,
        resourceType: label,
        resourceId: id,
        resourceName: row.name,
        siteIds: [row.siteId],
        clusterIds: table === 'clusters' ? [id] : [],
        after: { reconcileSuspended: suspended },
      });
    });
    return { suspended };
  }
}
