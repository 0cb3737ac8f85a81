import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { BrokerGateway } from '../broker/broker-gateway';
import { ClustersService } from '../clusters/clusters.service';
import type { ClusterAccess } from '../clusters/cluster-access.service';
import { Clock } from '../common/clock/clock';
import { SecretBox } from '../common/crypto/secret-box';
import { scheduleEvery, unschedule } from '../common/scheduling/schedule';
import { AppConfig } from '../config/config.module';
import { ClusterLockSessions } from '../database/database.module';
import { lockSessionOptions } from '../database/lock-session';
import { MetricsService } from '../metrics/metrics.service';
import { PathLocks } from '../probes/path-locks';
import { ProbeService } from '../probes/probe.service';
import { probePathId } from '../probes/probe-topology';
import { decide } from './overflow-decide';
import { OverflowMetrics } from './overflow-metrics';
import {
  clusterLabel,
  findOrphans,
  loadRules,
  recordEvaluation,
} from './overflow-engine.repository';
import type { OverflowRuleEntity } from './overflow-rule.entity';
import { OverflowSessions } from './overflow-sessions';
import { advanceBatch, idleAfterMs, projectedDepth, spillIdle } from './spill-batch';
import { spillHealth } from './spill-health';
import { spillAcked, spillShovelName, spillShovelPresent, spillShovelStatus } from './spill-shovel';
import { SpillWrites } from './spill-writes';

/**
 * Evaluates overflow rules at their own cadence (OVERFLOW_INTERVAL_MS) and applies the one
 * object each needs, a spill shovel, through a targeted write on that cluster only (under the
 * cluster's reconcile lock, ledger row first, audited), never through a full reconcile pass.
 *
 * The spill shovel reads the busy queue itself with ack-mode on-confirm and a small prefetch:
 * a message leaves the queue only once the remote site confirmed it, publishers are never
 * nacked or dead-lettered, classic and quorum queues behave the same. Each batch carries a
 * numeric src-delete-after (the excess over the low watermark, bounded), so a spill stops by
 * itself even if crossdock is gone; a shovel that deleted itself is re-armed only by this engine
 * and only while the queue is still above the low watermark, never by the reconciler.
 *
 * This class schedules and evaluates; the decision is pure (`overflow-decide.ts`, with the
 * spill's progress and health in `spill-batch.ts` and `spill-health.ts`), the broker reads of the
 * spill are in `spill-shovel.ts`, its writes in `spill-writes.ts`, the engine's SQL in
 * `overflow-engine.repository.ts`, its AMQP sessions in `overflow-sessions.ts`.
 */
@Injectable()
export class OverflowEngineService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Overflow');
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly sessions: OverflowSessions;
  private readonly spills: SpillWrites;
  private readonly metrics: OverflowMetrics;
  private locks?: PathLocks;
  private ticking = false;
  private stopped = false;
  private readonly gateClosedSince = new Map<string, number>();

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly probes: ProbeService,
    private readonly audit: AuditService,
    box: SecretBox,
    private readonly env: AppConfig,
    metrics: MetricsService,
    lockSessions: ClusterLockSessions,
    private readonly scheduler: SchedulerRegistry,
    private readonly gateway: BrokerGateway,
    private readonly clock: Clock,
  ) {
    this.metrics = new OverflowMetrics(metrics.registry);
    this.sessions = new OverflowSessions(clusters, gateway, env.BROKER_HTTP_TIMEOUT_MS);
    this.spills = new SpillWrites({
      ds,
      audit,
      box,
      clusters,
      gateway,
      lockSessions,
      linkUserName: env.LINK_USER_NAME,
      writeTimeoutMs: env.BROKER_WRITE_TIMEOUT_MS,
    });
  }

  onApplicationBootstrap(): void {
    if (this.env.OVERFLOW_ENABLED !== 'true') return;
    this.locks = new PathLocks(
      lockSessionOptions(this.env, 'crossdock-overflow-locks'),
      'overflow',
    );
    scheduleEvery(this.scheduler, 'overflow-engine', this.env.OVERFLOW_INTERVAL_MS, () =>
      this.tick(),
    );
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    unschedule(this.scheduler, 'overflow-engine');
    while (this.ticking) await new Promise((r) => setTimeout(r, 20));
    await this.sessions.closeAll();
    await this.locks?.close();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const rules = await loadRules(this.ds);
      const orphans = await findOrphans(this.ds);
      const held = await (this.locks as PathLocks).sync([
        ...rules.map((r) => r.id),
        ...orphans.map((o) => o.owner),
      ]);
      await Promise.all(
        rules
          .filter((r) => held.has(r.id))
          .map((r) => this.evaluate(r).catch((err) => this.warn(r, err))),
      );
      for (const o of orphans.filter((x) => held.has(x.owner))) await this.spills.removeOrphan(o);
      await this.metrics.retain(new Set(rules.filter((r) => held.has(r.id)).map((r) => r.name)));
    } catch (err) {
      this.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'overflow tick failed',
      );
    } finally {
      this.ticking = false;
    }
  }

  private warn(r: OverflowRuleEntity, err: unknown): void {
    this.logger.warn(
      { rule: r.name, err: err instanceof Error ? err.message : String(err) },
      'overflow evaluation failed',
    );
  }

  private async evaluate(rule: OverflowRuleEntity): Promise<void> {
    // One read of the access serves the session and the client of this evaluation.
    let access: ClusterAccess;
    try {
      access = await this.clusters.access(rule.clusterId);
    } catch (err) {
      await this.sessions.drop(rule.clusterId, rule.vhost);
      throw err;
    }
    const depth = await (
      await this.sessions.get(rule.clusterId, rule.vhost, access)
    ).messageCount(rule.queue);
    const client = this.gateway.management(access);
    const name = spillShovelName(rule.name);
    const shovelPresent = await spillShovelPresent(client, rule.vhost, name, rule.batch !== null);
    const gateClosed = this.debounceGate(rule, await this.gate(rule));
    let batch = rule.batch;
    // The spill's own progress: acks at the source (= confirmed remotely), from its channel.
    const read = shovelPresent && batch ? await spillAcked(client, rule.vhost, rule.queue) : null;
    let progressed = false;
    if (batch && read) {
      ({ batch, progressed } = advanceBatch(batch, read, this.clock.now().toISOString()));
    }
    let spillProblem: string | null = null;
    if (shovelPresent && batch) {
      const health = spillHealth({
        now: this.clock.nowMs(),
        batch,
        status: await spillShovelStatus(client, rule.vhost, name),
        progressed,
        depth,
        low: rule.lowWatermark,
        startGraceMs: Math.max(3 * this.env.OVERFLOW_INTERVAL_MS, 5000),
        stallMs: 2 * idleAfterMs,
      });
      batch = { ...batch, failure: health.failure };
      if (!health.failure) delete batch.failure;
      spillProblem = health.problem && (await this.explain(rule, health.problem));
    }
    const now = this.clock.nowMs();
    const d = decide({
      enabled: rule.enabled,
      state: rule.state,
      since: rule.stateSince.getTime(),
      now,
      depth,
      projectedDepth: projectedDepth(rule, depth, now, this.env.OVERFLOW_INTERVAL_MS),
      high: rule.highWatermark,
      low: rule.lowWatermark,
      minHoldMs: rule.minHoldMs,
      shovelPresent,
      gateClosed,
      spillIdle: spillIdle(batch, read?.ack ?? null, now),
      spillProblem,
      spillMoved: (batch?.acked ?? 0) > 0,
    });
    let diverted = BigInt(rule.diverted);
    if (d.action === 'activate' || d.action === 'rearm') {
      // A batch that ended by itself moved its whole budget.
      if (batch && !shovelPresent) diverted += BigInt(batch.budget);
      // The batch limit is a safety net (a spill stops by itself if crossdock is gone), not a
      // pacing device: a batch that ends mid-burst requeues what it had in flight (duplicates).
      const budget = rule.batchLimit;
      // False: a reconcile pass holds the cluster; the next tick tries again.
      if (!(await this.spills.start(rule, budget))) return;
      const startedAt = this.clock.now().toISOString();
      batch = { budget, startedAt, acked: 0, ackedChangedAt: startedAt };
    } else if (d.action === 'stop') {
      if (!(await this.spills.stop(rule, d.reason))) return;
      if (batch) diverted += BigInt(batch.acked);
      batch = null;
    } else if (!shovelPresent && batch && !['starting', 'active', 'failing'].includes(d.state)) {
      diverted += BigInt(batch.budget);
      batch = null;
    }
    this.metrics.evaluated(rule.name, depth, d);
    await recordEvaluation(this.ds, this.audit, rule, {
      decision: d,
      depth,
      gateClosed,
      batch,
      diverted,
    });
  }

  /**
   * A spill already running is stopped only when the gate stays closed for two evaluations: one
   * late probe (the spill's own traffic shares the WAN) must not stop a busy spill, which would
   * requeue its in-flight window. A spill is never started through a closed gate.
   */
  private debounceGate(rule: OverflowRuleEntity, closed: string | null): string | null {
    if (!closed) {
      this.gateClosedSince.delete(rule.id);
      return null;
    }
    const now = this.clock.nowMs();
    const since = this.gateClosedSince.get(rule.id) ?? now;
    this.gateClosedSince.set(rule.id, since);
    const running = rule.state !== 'inactive' && rule.state !== 'suspended';
    return !running || now - since >= 2 * this.env.OVERFLOW_INTERVAL_MS ? closed : null;
  }

  /**
   * A spill that moves nothing, explained where crossdock can see the cause: a remote queue that
   * does not exist (the shovel declares it as the link user, who may not: the broker only says
   * the shovel restarts).
   */
  private async explain(rule: OverflowRuleEntity, problem: string): Promise<string> {
    if (!rule.remoteQueue) return problem;
    try {
      const remote = await this.sessions.get(rule.remoteClusterId, rule.remoteVhost);
      if ((await remote.messageCount(rule.remoteQueue)) !== null) return problem;
      if (!/NOT_FOUND|404/.test(remote.lastError ?? '')) return problem;
      const cluster = await clusterLabel(this.ds, rule.remoteClusterId);
      return `remote queue ${JSON.stringify(rule.remoteQueue)} missing in vhost ${JSON.stringify(rule.remoteVhost)} on cluster ${cluster ?? rule.remoteClusterId} (the link user may not declare it: declare it there); ${problem}`;
    } catch {
      return problem;
    }
  }

  /** Why diverting is not allowed now: the remote path is not carrying probes, or the target is full. */
  private async gate(rule: OverflowRuleEntity): Promise<string | null> {
    const path = await this.probes.pathStatus(
      probePathId('shovel', rule.clusterId, rule.remoteClusterId),
    );
    if (!path.up) return `remote link unhealthy: ${path.reason}`;
    if (rule.remoteMaxDepth !== null && rule.remoteQueue) {
      const remote = await (
        await this.sessions.get(rule.remoteClusterId, rule.remoteVhost)
      ).messageCount(rule.remoteQueue);
      if (remote === null) return 'remote target depth not readable';
      if (remote >= rule.remoteMaxDepth)
        return `remote target holds ${remote} >= its limit ${rule.remoteMaxDepth}`;
    }
    return null;
  }
}
