import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService, systemActor } from '../audit/audit.service';
import { shovelName, upstreamName } from '../broker-topology/names';
import { queueKey, type ClusterFacts } from './broker-facts';
import {
  evaluateLinkHealth,
  type AlarmView,
  type BacklogView,
  type BrokerLinkView,
  type HealthState,
  type HealthThresholds,
  type LinkHealthInput,
  type LinkHealthVerdict,
  type PathView,
} from './link-health';
import { managementClientFor } from '../clusters/cluster-client';
import { ClustersService } from '../clusters/clusters.service';
import { AppConfig } from '../config/config.module';
import { LinkPreflight } from './link-preflight';
import type { BrokerLinkState, LinkCause } from './link-verdict';
import type { LinkModel, ProbeModel } from './probe-model';
import { ProbeMetrics } from './probe-metrics';

export interface EvaluateInput {
  link: LinkModel;
  model: ProbeModel;
  pathId: string;
  path: PathView | null;
  facts: Map<string, ClusterFacts>;
  thresholds: HealthThresholds;
  instanceId: string;
  certificateThresholds?: { warnDays: number; criticalDays: number };
}

/** Broker statistics are collected every 5 s (collect_statistics_interval). */
const statsIntervalMs = 5000;
const refreshMs = 5000;

/** The values behind a verdict: what the API shows and what a transition's audit record keeps. */
export interface HealthValues {
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  probesInWindow: number;
  probesLost: number;
  oldestPendingMs: number | null;
  expectedLinks: number | null;
  observedLinks: number | null;
  runningLinks: number | null;
  alarms: AlarmView[];
  backlog: Omit<BacklogView, 'history'> | null;
  /** The shared verdict model (link-verdict.ts), lifted to the top of the health view. */
  brokerState?: BrokerLinkState | null;
  cause?: LinkCause | null;
  divergence?: string | null;
}

/**
 * Turns a path view and the clusters' facts into a verdict per link, keeps it in link_health
 * (refreshed every few seconds, at once on a change of state) and audits every transition with
 * the values that caused it, in the same transaction.
 */
@Injectable()
export class HealthRecorder {
  private readonly lastWrite = new Map<string, { at: number; state: HealthState; codes: string }>();
  private readonly history = new Map<string, { readAt: number; messages: number }[]>();
  /** Refreshes of unchanged verdicts, written together by `flushRefreshes` (one statement). */
  private refreshes = new Map<string, { row: unknown[]; state: HealthState; codes: string }>();

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
    private readonly metrics: ProbeMetrics,
    private readonly preflight: LinkPreflight,
    private readonly clusters: ClustersService,
    private readonly env: AppConfig,
  ) {}

  /**
   * A shovel the broker does not run: its 3.10 status rarely says why, so check its destination
   * with the link user's credentials in the background (rate-limited); the evaluation uses the
   * newest finding.
   */
  private startPreflight(link: LinkModel, model: ProbeModel, broker: BrokerLinkView | null): void {
    if (link.kind !== 'shovel' || !broker || broker.observed === 0 || broker.running > 0) {
      if (link.kind === 'shovel' && broker && broker.running > 0) this.preflight.clear(link.id);
      return;
    }
    void (async () => {
      const access = await this.clusters.access(link.fromClusterId);
      const destination = await this.clusters.access(link.toClusterId);
      await this.preflight.shovel(
        link.id,
        managementClientFor(access, this.env.BROKER_HTTP_TIMEOUT_MS),
        link.fromVhost,
        shovelName(link.name),
        model.clusterName(link.toClusterId),
        managementClientFor(destination, this.env.BROKER_HTTP_TIMEOUT_MS),
      );
    })().catch(() => undefined);
  }

  inputFor(i: EvaluateInput): LinkHealthInput {
    const { link, model, facts } = i;
    const from = facts.get(link.fromClusterId);
    const to = facts.get(link.toClusterId);
    const sides: [ClusterFacts | undefined, AlarmView['side']][] =
      link.kind === 'federation'
        ? [
            [from, 'upstream'],
            [to, 'downstream'],
          ]
        : [
            [from, 'source'],
            [to, 'destination'],
          ];
    const alarms: AlarmView[] = [];
    for (const [f, side] of sides)
      for (const a of f?.alarms ?? [])
        alarms.push({
          side,
          cluster: model.clusterName(f?.clusterId ?? ''),
          node: a.node,
          alarm: a.alarm,
        });
    const unreachable = sides
      .filter(([f]) => f?.error)
      .map(
        ([f, side]) =>
          `${side} cluster ${model.clusterName(f?.clusterId ?? '')} not readable: ${f?.error}`,
      );
    const broker = this.brokerView(link, link.kind === 'federation' ? to : from);
    this.startPreflight(link, model, broker);
    return {
      kind: link.kind === 'federation' ? 'federation' : 'shovel',
      paused: link.paused,
      path: i.path,
      broker,
      preflight: link.kind === 'shovel' ? this.preflight.cached(link.id) : null,
      brokerUnavailable: unreachable.length ? unreachable.join('; ') : undefined,
      alarms,
      backlog: this.backlog(link, model, from),
      thresholds: i.thresholds,
      certificates: sides.flatMap(([f]) =>
        (f?.certificates ?? []).map((c) => ({
          cluster: model.clusterName(f?.clusterId ?? ''),
          endpoint: c.endpoint,
          daysToExpiry: c.daysToExpiry,
          notAfter: c.notAfter,
        })),
      ),
      certificateThresholds: i.certificateThresholds,
    };
  }

  private brokerView(link: LinkModel, f: ClusterFacts | undefined): BrokerLinkView | null {
    if (!f || f.error) return null;
    if (link.kind === 'shovel') {
      const mine = f.shovels.filter(
        (s) => s.vhost === link.fromVhost && s.name === shovelName(link.name),
      );
      return {
        expected: 1,
        observed: mine.length,
        running: mine.filter((s) => s.state === 'running').length,
        problems: mine
          .filter((s) => s.state !== 'running')
          .map((s) => `${s.state}${s.reason ? ` (${s.reason})` : ''}`),
        rows: mine.map((s) => ({ object: s.name, status: s.state, error: s.reason })),
      };
    }
    const mine = f.federationLinks.filter(
      (l) =>
        l.vhost === link.toVhost && l.upstream === upstreamName(link.name, link.brokerUpstream),
    );
    let expected = link.targets.length;
    if (link.targetPrefix !== null) {
      const prefix = `${link.toVhost}\u0000${link.targetPrefix}`;
      const names =
        link.federationKind === 'queue' ? [...f.queues.keys()] : [...f.exchanges.values()];
      expected = names.filter((n) => n.startsWith(prefix)).length;
    }
    return {
      expected,
      observed: mine.length,
      running: mine.filter((l) => l.status === 'running').length,
      problems: mine
        .filter((l) => l.status !== 'running')
        .map((l) => `${l.object}: ${l.status}${l.error ? ` (${l.error})` : ''}`),
      rows: mine.map((l) => ({ object: l.object, status: l.status, error: l.error })),
    };
  }

  /** Messages waiting to cross, read on the side they wait on. */
  private backlog(
    link: LinkModel,
    model: ProbeModel,
    from: ClusterFacts | undefined,
  ): BacklogView | null {
    if (!from || from.error) return null;
    let messages: number | null = null;
    let consumers: number | null | undefined;
    if (link.kind === 'shovel') {
      if (!link.sourceQueue) return null;
      const q = from.queues.get(queueKey(link.fromVhost, link.sourceQueue));
      if (!q) return null;
      messages = q.messages;
      consumers = q.consumers;
    } else if (link.federationKind === 'queue') {
      const names = link.upstreamObject
        ? [link.upstreamObject]
        : link.targetPrefix !== null
          ? null
          : link.targets;
      for (const [k, q] of from.queues) {
        const [vhost, name] = k.split('\u0000');
        if (vhost !== link.fromVhost) continue;
        if (names ? !names.includes(name) : !name.startsWith(link.targetPrefix ?? '')) continue;
        messages = (messages ?? 0) + (q.messages ?? 0);
      }
    } else {
      const down = model.clusterName(link.toClusterId);
      for (const [k, q] of from.queues) {
        const [vhost, name] = k.split('\u0000');
        if (vhost !== link.fromVhost || !name.startsWith('federation: ')) continue;
        const rest = name.slice('federation: '.length);
        const hit = link.upstreamObject
          ? rest.startsWith(`${link.upstreamObject} -> ${down}`)
          : link.targetPrefix !== null
            ? rest.startsWith(link.targetPrefix) && rest.includes(` -> ${down}`)
            : link.targets.some((x) => rest.startsWith(`${x} -> ${down}`));
        if (hit) messages = (messages ?? 0) + (q.messages ?? 0);
      }
    }
    const hist = this.history.get(link.id) ?? [];
    if (messages !== null && hist[hist.length - 1]?.readAt !== from.readAt) {
      hist.push({ readAt: from.readAt, messages });
      while (hist.length > 3) hist.shift();
      this.history.set(link.id, hist);
    }
    return {
      messages,
      ...(consumers !== undefined ? { consumers } : {}),
      history: hist.map((h) => h.messages),
      maxStalenessMs: Date.now() - from.readAt + statsIntervalMs,
    };
  }

  async evaluate(i: EvaluateInput): Promise<LinkHealthVerdict> {
    const input = this.inputFor(i);
    const verdict = evaluateLinkHealth(input);
    const values: HealthValues = {
      lagP50Ms: round(i.path?.lagP50Ms),
      lagP95Ms: round(i.path?.lagP95Ms),
      probesInWindow: i.path?.sent ?? 0,
      probesLost: i.path?.lost ?? 0,
      oldestPendingMs: round(i.path?.oldestPendingMs),
      expectedLinks: input.broker?.expected ?? null,
      observedLinks: input.broker?.observed ?? null,
      runningLinks: input.broker?.running ?? null,
      alarms: input.alarms,
      backlog: input.backlog
        ? {
            messages: input.backlog.messages,
            ...(input.backlog.consumers !== undefined
              ? { consumers: input.backlog.consumers }
              : {}),
            maxStalenessMs: input.backlog.maxStalenessMs,
          }
        : null,
      brokerState: verdict.brokerState,
      cause: verdict.cause,
      divergence: verdict.divergence,
    };
    const labels = { link: i.link.id, kind: i.link.kind, name: i.link.name };
    this.metrics.linkUp.set(
      labels,
      { healthy: 1, degraded: 0.5, down: 0, unknown: -1 }[verdict.state],
    );
    if (values.backlog?.messages != null) this.metrics.backlog.set(labels, values.backlog.messages);
    await this.store(i, verdict, values);
    return verdict;
  }

  /**
   * Writes the refreshes of unchanged verdicts collected since the last call in one statement
   * (transitions are written at once, with their audit record). A failed write is retried with
   * the next round's values, since `lastWrite` only moves on success.
   */
  async flushRefreshes(): Promise<void> {
    if (this.refreshes.size === 0) return;
    const batch = [...this.refreshes.entries()];
    this.refreshes = new Map();
    const col = (k: number) => batch.map(([, r]) => r.row[k]);
    await this.ds.query(
      `INSERT INTO link_health (link_id, link_kind, path_id, state, reasons, vals, evaluated_at, evaluated_by)
       SELECT l, k, p, st, r, v, now(), b
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[])
           AS t(l, k, p, st, r, v, b)
       ON CONFLICT (link_id) DO UPDATE SET path_id = EXCLUDED.path_id, reasons = EXCLUDED.reasons,
         vals = EXCLUDED.vals, evaluated_at = now(), evaluated_by = EXCLUDED.evaluated_by`,
      [col(0), col(1), col(2), col(3), col(4), col(5), col(6)],
    );
    const at = Date.now();
    for (const [id, r] of batch) this.lastWrite.set(id, { at, state: r.state, codes: r.codes });
  }

  private async store(
    i: EvaluateInput,
    verdict: LinkHealthVerdict,
    values: HealthValues,
  ): Promise<void> {
    const stored = i.model.health.get(i.link.id);
    const prevState: HealthState =
      this.lastWrite.get(i.link.id)?.state ?? stored?.state ?? 'unknown';
    const codes = verdict.reasons
      .map((r) => (r.cause ? `${r.code}:${r.cause.code}` : r.code))
      .join(',');
    const last = this.lastWrite.get(i.link.id);
    const changed = prevState !== verdict.state;
    if (!changed && last && last.codes === codes && Date.now() - last.at < refreshMs) return;
    const row = [
      i.link.id,
      i.link.kind,
      i.pathId,
      verdict.state,
      JSON.stringify(verdict.reasons),
      JSON.stringify(values),
      i.instanceId,
    ];
    if (!changed) {
      this.refreshes.set(i.link.id, { row, state: verdict.state, codes });
      if (stored) stored.reasons = verdict.reasons;
      return;
    }
    await this.ds.transaction(async (m) => {
      await m.query(
        `INSERT INTO link_health (link_id, link_kind, path_id, state, reasons, vals, since, evaluated_at, evaluated_by)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now(), $7)
         ON CONFLICT (link_id) DO UPDATE SET path_id = $3, state = $4, reasons = $5, vals = $6, since = now(),
           evaluated_at = now(), evaluated_by = $7`,
        row,
      );
      await this.audit.record(m, {
        action: 'link.health.changed',
        resourceType: i.link.kind === 'federation' ? 'federation-link' : 'shovel',
        resourceId: i.link.id,
        resourceName: i.link.name,
        siteIds: [
          ...new Set(
            [
              i.model.clusterSite(i.link.fromClusterId),
              i.model.clusterSite(i.link.toClusterId),
            ].filter((x): x is string => !!x),
          ),
        ],
        clusterIds: [i.link.fromClusterId, i.link.toClusterId],
        before: { state: prevState, reasons: stored?.reasons ?? [] },
        after: { state: verdict.state, reasons: verdict.reasons, values },
        actor: systemActor('probes'),
      });
    });
    this.lastWrite.set(i.link.id, { at: Date.now(), state: verdict.state, codes });
    if (stored) stored.reasons = verdict.reasons;
  }
}

const round = (v: number | null | undefined) =>
  v === null || v === undefined ? null : Math.round(v * 10) / 10;
