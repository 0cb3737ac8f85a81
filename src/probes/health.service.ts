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

export type LinkKind = 'federation' | 'shovel';

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

const tables: Record<
  LinkKind,
  { table: string; from: string; to: string; what: string; completedAt: string }
> = {
  federation: {
    table: 'federation_links',
    from: 'upstream_cluster_id',
    to: 'downstream_cluster_id',
    what: 'federation link',
    completedAt: 'NULL::timestamptz',
  },
  shovel: {
    table: 'shovels',
    from: 'source_cluster_id',
    to: 'destination_cluster_id',
    what: 'shovel',
    completedAt: 'l.completed_at',
  },
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
    const t = tables[kind];
    const rows = (await this.ds.query(
      `SELECT l.id, l.name, l.paused, ${t.completedAt} AS completed_at, l.seq, h.state, h.reasons, h.vals, h.thresholds, h.path_id, h.since,
              h.evaluated_at, h.evaluated_by,
              GREATEST(COALESCE(sf.expected_rtt_ms, 50), COALESCE(st.expected_rtt_ms, 50)) AS rtt
         FROM ${t.table} l
         LEFT JOIN link_health h ON h.link_id = l.id
         LEFT JOIN clusters cf ON cf.id = l.${t.from} LEFT JOIN sites sf ON sf.id = cf.site_id
         LEFT JOIN clusters ct ON ct.id = l.${t.to} LEFT JOIN sites st ON st.id = ct.site_id
        WHERE l.id = ANY($1::uuid[]) ORDER BY l.seq`,
      [ids],
    )) as Record<string, unknown>[];
    return rows.map((r) => {
      const thresholds = {
        ...defaultThresholds({
          expectedRttMs: r.rtt as number,
          probeIntervalMs: this.env.PROBE_INTERVAL_MS,
        }),
        ...((r.thresholds as Partial<HealthThresholds> | null) ?? {}),
      };
      const evaluatedAt = r.evaluated_at as Date | null;
      let state: LinkHealthView['state'] = (r.state as HealthState | null) ?? 'unknown';
      let reasons: LinkHealthView['reasons'] = (r.reasons as HealthReason[] | null) ?? [];
      const completedAt = r.completed_at as Date | null;
      const vals = (r.vals as Record<string, unknown> | null) ?? {};
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
        linkId: r.id as string,
        kind,
        name: r.name as string,
        state,
        reasons,
        values: vals,
        thresholds,
        pathId: (r.path_id as string | null) ?? null,
        since: (r.since as Date | null)?.toISOString() ?? null,
        evaluatedAt: evaluatedAt?.toISOString() ?? null,
        evaluatedBy: (r.evaluated_by as string | null) ?? null,
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
      const [link] = (await m.query(
        `SELECT id, name, ${t.from} AS a, ${t.to} AS b FROM ${t.table} WHERE id = $1 FOR UPDATE`,
        [id],
      )) as { id: string; name: string; a: string; b: string }[];
      if (!link) throw DomainException.notFound(t.what, id);
      const [before] = (await m.query(`SELECT thresholds FROM link_health WHERE link_id = $1`, [
        id,
      ])) as {
        thresholds: Record<string, unknown>;
      }[];
      const overrides: Record<string, number> = {};
      for (const k of ['lagDegradedMs', 'downAfterMs', 'backlogDegradedMessages'] as const)
        if (dto[k] !== undefined) overrides[k] = dto[k];
      await m.query(
        `INSERT INTO link_health (link_id, link_kind, thresholds) VALUES ($1, $2, $3)
         ON CONFLICT (link_id) DO UPDATE SET thresholds = $3`,
        [id, kind, JSON.stringify(overrides)],
      );
      const sites = (await m.query(
        `SELECT DISTINCT site_id FROM clusters WHERE id = ANY($1::uuid[])`,
        [[link.a, link.b]],
      )) as { site_id: string }[];
      await this.audit.record(m, {
        action: 'link.health.thresholds.updated',
        resourceType: kind === 'federation' ? 'federation-link' : 'shovel',
        resourceId: id,
        resourceName: link.name,
        siteIds: sites.map((s) => s.site_id),
        clusterIds: [link.a, link.b],
        before: { thresholds: before?.thresholds ?? {} },
        after: { thresholds: overrides },
      });
    });
    return this.link(kind, id);
  }

  /** Every link touching one of the site's clusters, and the worst of their states. */
  async site(
    siteId: string,
  ): Promise<{ siteId: string; state: HealthState; links: LinkHealthView[] }> {
    const [site] = (await this.ds.query(`SELECT id FROM sites WHERE id = $1`, [siteId])) as {
      id: string;
    }[];
    if (!site) throw DomainException.notFound('site', siteId);
    const links: LinkHealthView[] = [];
    for (const kind of ['federation', 'shovel'] as const) {
      const t = tables[kind];
      const ids = (await this.ds.query(
        `SELECT l.id FROM ${t.table} l JOIN clusters c ON c.id IN (l.${t.from}, l.${t.to}) WHERE c.site_id = $1`,
        [siteId],
      )) as { id: string }[];
      links.push(...(await this.views(kind, [...new Set(ids.map((x) => x.id))])));
    }
    // A completed one-shot shovel is done, not unhealthy.
    const states = links.map((l) => (l.state === 'completed' ? 'healthy' : l.state));
    return { siteId, state: links.length ? worst(states) : 'unknown', links };
  }

  /** The registry's probe paths with their last minute of samples. */
  async paths(): Promise<(ProbePath & { lastMinute: Record<string, unknown> })[]> {
    const rows = (await this.ds.query(
      `SELECT id, upstream_cluster_id AS a, downstream_cluster_id AS b, paused, 'federation' AS k, seq FROM federation_links
       UNION ALL SELECT id, source_cluster_id, destination_cluster_id, paused OR completed_at IS NOT NULL, 'shovel', seq FROM shovels
       UNION ALL SELECT id, cluster_id, remote_cluster_id, NOT enabled, 'shovel', seq FROM overflow_rules ORDER BY seq`,
    )) as { id: string; a: string; b: string; paused: boolean; k: LinkKind }[];
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
    const stats = (await this.ds.query(
      `SELECT path_id, count(*)::int AS samples, count(*) FILTER (WHERE lost)::int AS lost,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS p50,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms) AS p95, max(at) AS last_at
         FROM probe_samples WHERE at > now() - interval '1 minute' AND path_id = ANY($1::text[]) GROUP BY path_id`,
      [paths.map((p) => p.id)],
    )) as {
      path_id: string;
      samples: number;
      lost: number;
      p50: number | null;
      p95: number | null;
      last_at: Date;
    }[];
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
      const rows = (await this.ds.query(
        `SELECT at, seq, lag_ms, lost FROM probe_samples WHERE path_id = $1 AND at >= $2 AND at < $3 ORDER BY at LIMIT 10000`,
        [pathId, from, to],
      )) as { at: Date; seq: number; lag_ms: number | null; lost: boolean }[];
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
    const rows = (await this.ds.query(
      useRollups
        ? `SELECT date_bin(make_interval(secs => $4), bucket, $2) AS at, sum(samples)::int AS samples, sum(lost)::int AS lost,
                  avg(lag_p50_ms) AS p50, max(lag_p95_ms) AS p95, max(lag_max_ms) AS max
             FROM probe_rollups WHERE path_id = $1 AND bucket >= $2 AND bucket < $3 GROUP BY 1 ORDER BY 1 LIMIT 10000`
        : `SELECT date_bin(make_interval(secs => $4), at, $2) AS at, count(*)::int AS samples, count(*) FILTER (WHERE lost)::int AS lost,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS p50,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms) AS p95, max(lag_ms) AS max
             FROM probe_samples WHERE path_id = $1 AND at >= $2 AND at < $3 GROUP BY 1 ORDER BY 1 LIMIT 10000`,
      [pathId, from, to, q.step],
    )) as {
      at: Date;
      samples: number;
      lost: number;
      p50: number | null;
      p95: number | null;
      max: number | null;
    }[];
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
