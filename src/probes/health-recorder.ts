import { BrokerGateway } from '../broker/broker-gateway';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService, systemActor } from '../audit/audit.service';
import { shovelName } from '../broker-topology/names';
import type { ClusterFacts } from './broker-facts';
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
import { ClustersService } from '../clusters/clusters.service';
import {
  backlogReading,
  brokerLinkView,
  healthValues,
  type HealthValues,
} from './link-health-readings';
import { LinkPreflight } from './link-preflight';
import type { LinkModel, ProbeModel } from './probe-model';
import { ProbeMetrics } from './probe-metrics';
import { refreshLinkHealth, writeLinkHealthTransition } from './probes.repository';

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
    private readonly broker: BrokerGateway,
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
        this.broker.management(access),
        link.fromVhost,
        shovelName(link.name),
        model.clusterName(link.toClusterId),
        this.broker.management(destination),
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
    const broker = brokerLinkView(link, link.kind === 'federation' ? to : from);
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

  /** Messages waiting to cross, read on the side they wait on, with the last few readings. */
  private backlog(
    link: LinkModel,
    model: ProbeModel,
    from: ClusterFacts | undefined,
  ): BacklogView | null {
    const reading = backlogReading(link, model, from);
    if (!reading || !from) return null;
    const { messages, consumers } = reading;
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
    const values = healthValues(input, verdict);
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
    await refreshLinkHealth(this.ds, [col(0), col(1), col(2), col(3), col(4), col(5), col(6)]);
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
      await writeLinkHealthTransition(m, row);
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
