import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { DomainException } from '../common/errors/domain.exception';
import { AppConfig } from '../config/config.module';
import {
  defaultThresholds,
  worst,
  type HealthReason,
  type HealthState,
  type HealthThresholds,
} from './link-health';
import type { BrokerLinkState, LinkCause } from './link-verdict';
import { probePaths, type ProbePath } from './probe-topology';
import type { HealthThresholdsDto, SamplesQueryDto } from './probes.dto';
import { lastMinuteStats, rawSamples, sampleBuckets } from './probe-samples.repository';
import {
  linkHealthRows,
  linkIdsTouchingSite,
  lockLinkEnds,
  pathLinkRows,
  siteExists,
  sitesOfClusters,
  storedThresholds,
  writeThresholds,
  type LinkKind,
} from './probes.repository';

export type { LinkKind };

/** A one-shot shovel the broker removed once done: nothing to measure, nothing wrong. */
export interface CompletedReason {
  code: 'completed';
  state: 'completed';
  detail: string;
}

export interface LinkHealthView {
  linkId: string;
  kind: LinkKind;
  name: string;
  state: HealthState | 'completed';
  reasons: (HealthReason | CompletedReason)[];
  values: Record<string, unknown>;
  thresholds: HealthThresholds;
  pathId: string | null;
  since: string | null;
  evaluatedAt: string | null;
  evaluatedBy: string | null;
  /** The broker's own state of the link at the last evaluation (null: not read, or not current). */
  brokerState: BrokerLinkState | null;
  /** The classified cause of a link that does not run or does not move data. */
  cause: LinkCause | null;
  /** Why the broker's state and the data-plane state differ; null when they agree. */
  divergence: string | null;
}

const tables: Record<LinkKind, { what: string }> = {
  federation: { what: 'federation link' },
  shovel: { what: 'shovel' },
};

/** Reads of link health, site health, probe paths and samples (whichever replica evaluated them). */
@Injectable()
export class HealthService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly env: AppConfig,
    private readonly audit: AuditService,
  ) {}

  /** A verdict nobody refreshed for this long is not current any more. */
  private get staleAfterMs(): number {
    return Math.max(15000, 10 * this.env.PROBE_INTERVAL_MS, 3 * this.env.PROBE_BROKER_POLL_MS);
  }

  async link(kind: LinkKind, id: string): Promise<LinkHealthView> {
    const views = await this.views(kind, [id]);
    if (!views[0]) throw DomainException.notFound(tables[kind].what, id);
    return views[0];
  }

  private async views(kind: LinkKind, ids: string[]): Promise<LinkHealthView[]> {
    const rows = await linkHealthRows(this.ds, kind, ids);
    return rows.map((r) => {
      const thresholds: HealthThresholds = {
        ...defaultThresholds({
          expectedRttMs: r.rtt,
          probeIntervalMs: this.env.PROBE_INTERVAL_MS,
        }),
        ...(r.thresholds ?? {}),
      };
      const evaluatedAt = r.evaluated_at;
      let state: LinkHealthView['state'] = r.state ?? 'unknown';
      let reasons: LinkHealthView['reasons'] = r.reasons ?? [];
      const completedAt = r.completed_at;
      const vals = r.vals ?? {};
      let current = true;
      if (completedAt) {
        state = 'completed';
        reasons = [
          {
            code: 'completed',
            state: 'completed',
            detail: `the one-shot shovel finished and the broker removed it (${completedAt.toISOString()}); rerun it to move messages again`,
          },
        ];
      } else if (r.paused) {
        current = false;
        state = 'unknown';
        reasons = [{ code: 'paused', state: 'unknown', detail: 'the link is paused' }];
      } else if (!evaluatedAt) {
        current = false;
        state = 'unknown';
        reasons = [
          {
            code: 'no-probe-data',
            state: 'unknown',
            detail: 'not evaluated yet (no instance with probes enabled holds this path)',
          },
        ];
      } else if (Date.now() - evaluatedAt.getTime() > this.staleAfterMs) {
        current = false;
        state = 'unknown';
        reasons = [
          {
            code: 'no-probe-data',
            state: 'unknown',
            detail: `the last evaluation (${evaluatedAt.toISOString()}, ${String(r.state)}) is stale: no instance is probing this path`,
          },
        ];
      }
      return {
        linkId: r.id,
        kind,
        name: r.name,
        state,
        reasons,
        values: vals,
        thresholds,
        pathId: r.path_id ?? null,
        since: r.since?.toISOString() ?? null,
        evaluatedAt: evaluatedAt?.toISOString() ?? null,
        evaluatedBy: r.evaluated_by ?? null,
        brokerState:
          current && !completedAt ? ((vals.brokerState as BrokerLinkState) ?? null) : null,
        cause: current && !completedAt ? ((vals.cause as LinkCause) ?? null) : null,
        divergence: current && !completedAt ? ((vals.divergence as string) ?? null) : null,
      };
    });
  }

  async setThresholds(
    kind: LinkKind,
    id: string,
    dto: HealthThresholdsDto,
  ): Promise<LinkHealthView> {
    const t = tables[kind];
    await this.ds.transaction(async (m) => {
      const link = await lockLinkEnds(m, kind, id);
      if (!link) throw DomainException.notFound(t.what, id);
      const beforeThresholds = await storedThresholds(m, id);
      const overrides: Record<string, number> = {};
      for (const k of ['lagDegradedMs', 'downAfterMs', 'backlogDegradedMessages'] as const)
        if (dto[k] !== undefined) overrides[k] = dto[k];
      await writeThresholds(m, id, kind, overrides);
      const siteIds = await sitesOfClusters(m, [link.a, link.b]);
      await this.audit.record(m, {
        action: 'link.health.thresholds.updated',
        resourceType: kind === 'federation' ? 'federation-link' : 'shovel',
        resourceId: id,
        resourceName: link.name,
        siteIds,
        clusterIds: [link.a, link.b],
        before: { thresholds: beforeThresholds ?? {} },
        after: { thresholds: overrides },
      });
    });
    return this.link(kind, id);
  }

  /** Every link touching one of the site's clusters, and the worst of their states. */
  async site(
    siteId: string,
  ): Promise<{ siteId: string; state: HealthState; links: LinkHealthView[] }> {
    if (!(await siteExists(this.ds, siteId))) throw DomainException.notFound('site', siteId);
    const links: LinkHealthView[] = [];
    for (const kind of ['federation', 'shovel'] as const) {
      const ids = await linkIdsTouchingSite(this.ds, kind, siteId);
      links.push(...(await this.views(kind, [...new Set(ids)])));
    }
    // A completed one-shot shovel is done, not unhealthy.
    const states = links.map((l) => (l.state === 'completed' ? 'healthy' : l.state));
    return { siteId, state: links.length ? worst(states) : 'unknown', links };
  }

  /** The registry's probe paths with their last minute of samples. */
  async paths(): Promise<(ProbePath & { lastMinute: Record<string, unknown> })[]> {
    const rows = await pathLinkRows(this.ds);
    const row = (r: (typeof rows)[number]) => ({
      id: r.id,
      fromClusterId: r.a,
      toClusterId: r.b,
      paused: r.paused,
    });
    const paths = probePaths(
      rows.filter((r) => r.k === 'federation').map(row),
      rows.filter((r) => r.k === 'shovel').map(row),
    );
    const stats = await lastMinuteStats(
      this.ds,
      paths.map((p) => p.id),
    );
    const by = new Map(stats.map((s) => [s.path_id, s]));
    return paths.map((p) => {
      const s = by.get(p.id);
      return {
        ...p,
        lastMinute: {
          samples: s?.samples ?? 0,
          lost: s?.lost ?? 0,
          lagP50Ms: s?.p50 ?? null,
          lagP95Ms: s?.p95 ?? null,
          lastSampleAt: s?.last_at?.toISOString() ?? null,
        },
      };
    });
  }

  /** Raw samples, or a downsampled series (date_bin buckets; older than raw retention: minute rollups). */
  async samples(
    pathId: string,
    q: SamplesQueryDto,
  ): Promise<{ pathId: string; step: number | null; points: unknown[] }> {
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - 15 * 60000);
    if (from >= to)
      throw DomainException.validation([{ field: 'from', message: 'from must be before to' }]);
    if (!q.step) {
      const rows = await rawSamples(this.ds, pathId, from, to);
      return {
        pathId,
        step: null,
        points: rows.map((r) => ({
          at: r.at.toISOString(),
          seq: r.seq,
          lagMs: r.lag_ms,
          lost: r.lost,
        })),
      };
    }
    const rawFrom = new Date(Date.now() - this.env.PROBE_RETENTION_HOURS * 3600000);
    const useRollups = from < rawFrom && q.step >= 60;
    const rows = await sampleBuckets(this.ds, useRollups, pathId, from, to, q.step);
    return {
      pathId,
      step: q.step,
      points: rows.map((r) => ({
        at: r.at.toISOString(),
        samples: r.samples,
        lost: r.lost,
        lagP50Ms: r.p50,
        lagP95Ms: r.p95,
        lagMaxMs: r.max,
      })),
    };
  }
}
