import { managementPaths } from '../broker-topology/broker-paths';
import { parseShovels, type ShovelStatus } from '../broker-topology/broker-facts';
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
import { Counter, Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { AuditService, systemActor } from '../audit/audit.service';
import { AmqpSession } from '../broker/amqp-session';
import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import { managementClientFor } from '../clusters/cluster-client';
import { type ClusterAccess, ClustersService } from '../clusters/clusters.service';
import { SecretBox } from '../common/crypto/secret-box';
import { AppConfig } from '../config/config.module';
import { scheduleEvery, unschedule } from '../common/scheduling/schedule';
import { MetricsService } from '../metrics/metrics.service';
import { retainSeries } from '../metrics/series';
import { lockSessionOptions } from '../database/lock-session';
import { ClusterLockSessions } from '../database/database.module';
import { PathLocks } from '../probes/path-locks';
import { ProbeService } from '../probes/probe.service';
import { probePathId } from '../probes/probe-topology';
import { managedPrefix } from '../reconciliation/broker-state';
import { ClusterLock } from '../reconciliation/cluster-lock';
import type { ClusterTls } from '../clusters/cluster-tls';
import { localUri, resolveLinkUris, sessionUri } from '../broker-topology/link-uri';
import { spillShovelSettings } from '../broker-topology/defaults';
import { encodeShovel } from '../broker-topology/shovel.codec';
import { activeLinkCredential } from '../clusters/link-user-credentials';
import { decide, type Decision, type OverflowState } from './overflow-decide';
import { OverflowRuleEntity } from './overflow-rule.entity';
import { spillHealth } from './spill-health';

export const spillShovelName = (rule: string) => `${managedPrefix}ov.${rule}`;
export const overflowOwner = (ruleId: string) => `overflow:${ruleId}`;
/** Consumer priority of the spill shovel (local consumers default to 0). */
const spillPriority = -1;
/** Broker statistics are emitted every 5 s: an ack count unchanged this long means idle. */
const idleAfterMs = 11000;

const stateValue: Record<OverflowState, number> = {
  inactive: 0,
  active: 1,
  draining: 2,
  suspended: 3,
  failing: 4,
  starting: 5,
};

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
 */
@Injectable()
export class OverflowEngineService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Overflow');
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly sessions = new Map<string, AmqpSession>();
  /** What each session was opened with (credentials version, endpoints). */
  private readonly sessionIdentity = new Map<string, string>();
  private locks?: PathLocks;
  private ticking = false;
  private stopped = false;
  private readonly depthGauge: Gauge<'rule'>;
  private readonly stateGauge: Gauge<'rule'>;
  private readonly activations: Counter<'rule'>;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly probes: ProbeService,
    private readonly audit: AuditService,
    private readonly box: SecretBox,
    private readonly env: AppConfig,
    metrics: MetricsService,
    private readonly lockSessions: ClusterLockSessions,
    private readonly scheduler: SchedulerRegistry,
  ) {
    const registers = [metrics.registry];
    this.depthGauge = new Gauge({
      name: 'crossdock_overflow_queue_depth',
      help: 'Ready messages in the queue an overflow rule watches',
      labelNames: ['rule'],
      registers,
    });
    this.stateGauge = new Gauge({
      name: 'crossdock_overflow_state',
      help: '0 inactive, 1 active (moving), 2 draining, 3 suspended, 4 failing (spill not moving), 5 starting',
      labelNames: ['rule'],
      registers,
    });
    this.activations = new Counter({
      name: 'crossdock_overflow_activations_total',
      help: 'Times an overflow rule started diverting',
      labelNames: ['rule'],
      registers,
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
    for (const s of this.sessions.values()) await s.close();
    this.sessions.clear();
    await this.locks?.close();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const rules = await this.ds.getRepository(OverflowRuleEntity).find({ order: { seq: 'ASC' } });
      const orphans = (await this.ds.query(
        `SELECT m.cluster_id, m.vhost, m.name, m.owner FROM managed_objects m
          WHERE m.owner LIKE 'overflow:%'
            AND NOT EXISTS (SELECT 1 FROM overflow_rules r WHERE 'overflow:' || r.id::text = m.owner)`,
      )) as { cluster_id: string; vhost: string; name: string; owner: string }[];
      const held = await (this.locks as PathLocks).sync([
        ...rules.map((r) => r.id),
        ...orphans.map((o) => o.owner),
      ]);
      await Promise.all(
        rules
          .filter((r) => held.has(r.id))
          .map((r) => this.evaluate(r).catch((err) => this.warn(r, err))),
      );
      for (const o of orphans.filter((x) => held.has(x.owner))) await this.removeOrphan(o);
      const live = new Set(rules.filter((r) => held.has(r.id)).map((r) => r.name));
      await Promise.all(
        [this.depthGauge, this.stateGauge, this.activations].map((m) =>
          retainSeries(m, 'rule', live),
        ),
      );
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

  /** A deleted rule's spill shovel goes (its messages stay: on-confirm requeues what is in flight). */
  private async removeOrphan(o: {
    cluster_id: string;
    vhost: string;
    name: string;
    owner: string;
  }): Promise<void> {
    await this.withClusterLock(o.cluster_id, async (client) => {
      await this.deleteShovel(
        client,
        {
          id: o.owner.slice('overflow:'.length),
          name: o.name.slice(spillShovelName('').length),
          clusterIds: [o.cluster_id],
        },
        o.vhost,
        o.name,
        'rule deleted',
      );
      await this.ds.query(
        `DELETE FROM managed_objects WHERE cluster_id = $1 AND kind = 'shovel' AND vhost = $2 AND name = $3`,
        [o.cluster_id, o.vhost, o.name],
      );
    });
  }

  private async session(
    clusterId: string,
    vhost: string,
    current?: ClusterAccess,
  ): Promise<AmqpSession> {
    const key = `${clusterId}\u0000${vhost}`;
    // Every use re-reads the access: credentials not bound to the current endpoints (or new
    // credentials, or moved nodes) must end a session opened before the change.
    let access;
    try {
      access = current ?? (await this.clusters.access(clusterId));
    } catch (err) {
      await this.dropSession(key);
      throw err;
    }
    const identity = JSON.stringify([
      access.cluster.credentialsVersion,
      access.nodes.map((n) => [n.host, n.amqpPort]),
      access.tls ?? null,
    ]);
    let s = this.sessions.get(key);
    if (s && this.sessionIdentity.get(key) !== identity) {
      await this.dropSession(key);
      s = undefined;
    }
    if (!s) {
      s = new AmqpSession({
        endpoints: access.nodes.map((n) => ({ host: n.host, port: n.amqpPort })),
        uri: sessionUri(access, vhost, undefined, !!access.tls),
        networks: access.networks,
        tls: access.tls,
        connectTimeoutMs: this.env.BROKER_HTTP_TIMEOUT_MS,
      });
      this.sessions.set(key, s);
      this.sessionIdentity.set(key, identity);
    }
    await s.ensure();
    return s;
  }

  private async dropSession(key: string): Promise<void> {
    const s = this.sessions.get(key);
    this.sessions.delete(key);
    this.sessionIdentity.delete(key);
    await s?.close();
  }

  private async client(clusterId: string): Promise<ManagementClient> {
    return managementClientFor(
      await this.clusters.access(clusterId),
      this.env.BROKER_HTTP_TIMEOUT_MS,
    );
  }

  private async evaluate(rule: OverflowRuleEntity): Promise<void> {
    // One read of the access serves the session and the client of this evaluation.
    let access: ClusterAccess;
    try {
      access = await this.clusters.access(rule.clusterId);
    } catch (err) {
      await this.dropSession(`${rule.clusterId}\u0000${rule.vhost}`);
      throw err;
    }
    const depth = await (
      await this.session(rule.clusterId, rule.vhost, access)
    ).messageCount(rule.queue);
    const client = managementClientFor(access, this.env.BROKER_HTTP_TIMEOUT_MS);
    const name = spillShovelName(rule.name);
    let shovelPresent = rule.batch !== null;
    try {
      await client.get(managementPaths.shovel(rule.vhost, name));
      shovelPresent = true;
    } catch (err) {
      if (err instanceof BrokerNotFoundError) shovelPresent = false;
    }
    const gateClosed = this.debounceGate(rule, await this.gate(rule));
    let batch = rule.batch;
    // The spill's own progress: acks at the source (= confirmed remotely), from its channel.
    const read = shovelPresent && batch ? await this.spillAcked(client, rule) : null;
    const acked = read?.ack ?? null;
    let progressed = false;
    if (batch && read) {
      // A restarted shovel acks on a new channel, counting from 0 again.
      const base =
        read.channel === batch.channel
          ? (batch.channelAcked ?? 0)
          : batch.channel === undefined
            ? batch.acked
            : 0;
      const delta = Math.max(0, read.ack - base);
      progressed = delta > 0;
      batch = {
        ...batch,
        channel: read.channel,
        channelAcked: read.ack,
        ...(progressed
          ? { acked: batch.acked + delta, ackedChangedAt: new Date().toISOString() }
          : {}),
      };
    }
    let spillProblem: string | null = null;
    if (shovelPresent && batch) {
      const health = spillHealth({
        now: Date.now(),
        batch,
        status: await this.shovelStatus(client, rule.vhost, name),
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
    // Statistics are emitted every 5 s: unchanged over two emissions means idle.
    // A new spill's consumer shows in the statistics only after an emission or two: until
    // then it counts as busy, not as unknown.
    const young = batch !== null && Date.now() - Date.parse(batch.startedAt) < 3 * idleAfterMs;
    const spillIdle =
      batch && acked !== null
        ? Date.now() - Date.parse(batch.ackedChangedAt) >= idleAfterMs
        : young
          ? false
          : null;
    const d = decide({
      enabled: rule.enabled,
      state: rule.state,
      since: rule.stateSince.getTime(),
      now: Date.now(),
      depth,
      projectedDepth: this.projected(rule, depth),
      high: rule.highWatermark,
      low: rule.lowWatermark,
      minHoldMs: rule.minHoldMs,
      shovelPresent,
      gateClosed,
      spillIdle,
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
      const ok = await this.withClusterLock(rule.clusterId, (locked) =>
        this.putShovel(locked, rule, budget),
      );
      if (!ok) return; // a reconcile pass holds the cluster: next tick
      const now = new Date().toISOString();
      batch = { budget, startedAt: now, acked: 0, ackedChangedAt: now };
    } else if (d.action === 'stop') {
      const ok = await this.withClusterLock(rule.clusterId, async (locked) => {
        await this.deleteShovel(
          locked,
          { id: rule.id, name: rule.name, clusterIds: [rule.clusterId, rule.remoteClusterId] },
          rule.vhost,
          name,
          d.reason,
        );
        await this.ds.query(
          `DELETE FROM managed_objects WHERE cluster_id = $1 AND kind = 'shovel' AND vhost = $2 AND name = $3`,
          [rule.clusterId, rule.vhost, name],
        );
      });
      if (!ok) return;
      if (batch) diverted += BigInt(batch.acked);
      batch = null;
    } else if (!shovelPresent && batch && !['starting', 'active', 'failing'].includes(d.state)) {
      diverted += BigInt(batch.budget);
      batch = null;
    }
    this.depthGauge.set({ rule: rule.name }, depth ?? 0);
    this.stateGauge.set({ rule: rule.name }, stateValue[d.state]);
    if (d.action === 'activate') this.activations.inc({ rule: rule.name });
    await this.record(rule, d, depth, gateClosed, batch, diverted);
  }

  private readonly gateClosedSince = new Map<string, number>();

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
    const since = this.gateClosedSince.get(rule.id) ?? Date.now();
    this.gateClosedSince.set(rule.id, since);
    const running = rule.state !== 'inactive' && rule.state !== 'suspended';
    return !running || Date.now() - since >= 2 * this.env.OVERFLOW_INTERVAL_MS ? closed : null;
  }

  /** The depth at the next evaluation if it keeps growing at the rate of the last interval. */
  private projected(rule: OverflowRuleEntity, depth: number | null): number | null {
    if (depth === null || rule.lastDepth === null || !rule.lastEvaluatedAt) return null;
    const elapsed = Date.now() - rule.lastEvaluatedAt.getTime();
    if (elapsed <= 0 || elapsed > 3 * this.env.OVERFLOW_INTERVAL_MS) return null;
    const growth = ((depth - rule.lastDepth) / elapsed) * this.env.OVERFLOW_INTERVAL_MS;
    return growth > 0 ? depth + growth : depth;
  }

  /**
   * Messages the spill shovel has acked at the source: its consumer is the one at priority -1 on
   * a direct (user "none") connection; its channel's ack counter is broker statistics (5 s).
   */
  private async spillAcked(
    client: ManagementClient,
    rule: OverflowRuleEntity,
  ): Promise<{ channel: string; ack: number } | null> {
    try {
      const q = await client.get<{
        consumer_details?: {
          arguments?: Record<string, unknown>;
          channel_details?: { name?: string; user?: string };
        }[];
      }>(managementPaths.queue(rule.vhost, rule.queue), {
        query: { columns: 'consumer_details' },
      });
      const spill = (q.consumer_details ?? []).find(
        (c) => c.arguments?.['x-priority'] === spillPriority && c.channel_details?.user === 'none',
      );
      const channel = spill?.channel_details?.name;
      if (!channel) return null;
      const ch = await client.get<{ message_stats?: { ack?: number } }>(
        managementPaths.channel(channel),
        {
          query: { columns: 'message_stats' },
        },
      );
      return { channel, ack: typeof ch.message_stats?.ack === 'number' ? ch.message_stats.ack : 0 };
    } catch {
      return null;
    }
  }

  /** The broker's status of the spill shovel; undefined: not listed; null: not readable. */
  private async shovelStatus(
    client: ManagementClient,
    vhost: string,
    name: string,
  ): Promise<ShovelStatus | undefined | null> {
    try {
      const parsed = parseShovels(await client.get<unknown>(managementPaths.shovels(vhost)));
      return parsed.ok ? parsed.value.find((x) => x.name === name) : null;
    } catch {
      return null;
    }
  }

  /**
   * A spill that moves nothing, explained where crossdock can see the cause: a remote queue that
   * does not exist (the shovel declares it as the link user, who may not: the broker only says
   * the shovel restarts).
   */
  private async explain(rule: OverflowRuleEntity, problem: string): Promise<string> {
    if (!rule.remoteQueue) return problem;
    try {
      const remote = await this.session(rule.remoteClusterId, rule.remoteVhost);
      if ((await remote.messageCount(rule.remoteQueue)) !== null) return problem;
      if (!/NOT_FOUND|404/.test(remote.lastError ?? '')) return problem;
      const [c] = (await this.ds.query(
        `SELECT s.name || '/' || c.name AS name FROM clusters c JOIN sites s ON s.id = c.site_id WHERE c.id = $1`,
        [rule.remoteClusterId],
      )) as { name: string }[];
      return `remote queue ${JSON.stringify(rule.remoteQueue)} missing in vhost ${JSON.stringify(rule.remoteVhost)} on cluster ${c?.name ?? rule.remoteClusterId} (the link user may not declare it: declare it there); ${problem}`;
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
        await this.session(rule.remoteClusterId, rule.remoteVhost)
      ).messageCount(rule.remoteQueue);
      if (remote === null) return 'remote target depth not readable';
      if (remote >= rule.remoteMaxDepth)
        return `remote target holds ${remote} >= its limit ${rule.remoteMaxDepth}`;
    }
    return null;
  }

  /**
   * Runs `fn` under the cluster's reconcile lock with a client whose writes pass the lock's
   * lease check (a replica resumed after a freeze does not write on a lock it lost).
   */
  private async withClusterLock(
    clusterId: string,
    fn: (client: ManagementClient) => Promise<void>,
  ): Promise<boolean> {
    const lock = await ClusterLock.tryAcquire(this.lockSessions, clusterId);
    if (!lock) return false;
    try {
      const client = managementClientFor(
        await this.clusters.access(clusterId),
        this.env.BROKER_HTTP_TIMEOUT_MS,
        { writeGuard: () => lock.guardWrite() },
      );
      await fn(client);
      return true;
    } finally {
      await lock.release();
    }
  }

  private async putShovel(
    client: ManagementClient,
    rule: OverflowRuleEntity,
    budget: number,
  ): Promise<void> {
    const name = spillShovelName(rule.name);
    const [remote] = (await this.ds.query(
      `SELECT c.id, c.site_id, c.link_endpoints, c.tls, s.load_balancer_host, s.load_balancer_port,
              (SELECT tls FROM clusters WHERE id = $2) AS runner_tls
         FROM clusters c JOIN sites s ON s.id = c.site_id WHERE c.id = $1`,
      [rule.remoteClusterId, rule.clusterId],
    )) as {
      id: string;
      site_id: string;
      link_endpoints: { host: string; port: number }[];
      tls: ClusterTls | null;
      runner_tls: ClusterTls | null;
      load_balancer_host: string | null;
      load_balancer_port: number | null;
    }[];
    const cred = await activeLinkCredential(
      this.ds,
      this.box,
      rule.remoteClusterId,
      this.env.LINK_USER_NAME,
    );
    const uris = resolveLinkUris(
      {
        loadBalancer:
          remote.load_balancer_host && remote.load_balancer_port
            ? { host: remote.load_balancer_host, port: remote.load_balancer_port }
            : null,
        linkEndpoints: remote.link_endpoints,
        credentials: { username: cred.username, password: cred.password },
        tls: remote.tls,
        runnerFiles: remote.runner_tls?.linkFiles ?? null,
      },
      rule.remoteVhost,
    );
    // The shovel declares its source queue: the same arguments (queue type!) or the declare fails.
    const source = await client.get<{ arguments?: Record<string, unknown> }>(
      managementPaths.queue(rule.vhost, rule.queue),
    );
    let destinationQueueArgs: Record<string, unknown> | undefined;
    if (rule.remoteQueue) {
      const remoteClient = await this.client(rule.remoteClusterId);
      const dest = await remoteClient
        .get<{ arguments?: Record<string, unknown> }>(
          managementPaths.queue(rule.remoteVhost, rule.remoteQueue),
        )
        .catch((err: unknown) =>
          err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
        );
      destinationQueueArgs = dest?.arguments;
    }
    const value = encodeShovel({
      sourceUris: [localUri(rule.vhost)],
      sourceQueue: rule.queue,
      sourceQueueArgs: source.arguments ?? {},
      // Below local consumers: the spill only gets what they have no capacity for.
      consumerArgs: { 'x-priority': spillPriority },
      destinationUris: uris,
      ...(rule.remoteQueue
        ? { destinationQueue: rule.remoteQueue, destinationQueueArgs }
        : {
            destinationExchange: rule.remoteExchange ?? undefined,
            destinationExchangeKey: rule.remoteRoutingKey ?? undefined,
          }),
      settings: {
        ...spillShovelSettings(rule.prefetch),
        deleteAfter: budget,
        addForwardHeaders: false,
        addTimestampHeader: false,
      },
    });
    // Ledger first: a crash after the write never leaves a shovel crossdock does not own.
    await this.ds.query(
      `INSERT INTO managed_objects (cluster_id, kind, vhost, name, owner) VALUES ($1, 'shovel', $2, $3, $4)
       ON CONFLICT (cluster_id, kind, vhost, name) DO UPDATE SET owner = EXCLUDED.owner`,
      [rule.clusterId, rule.vhost, name, overflowOwner(rule.id)],
    );
    await this.audit.aroundBrokerCall(
      {
        action: 'overflow.shovel.put',
        resourceType: 'overflow-rule',
        resourceId: rule.id,
        resourceName: rule.name,
        clusterIds: [rule.clusterId, rule.remoteClusterId],
        details: { shovel: name, vhost: rule.vhost, budget },
        actor: systemActor('overflow'),
      },
      () => client.put(managementPaths.shovel(rule.vhost, name), { value }),
    );
  }

  /** Deletes a spill shovel (gone already is fine), audited like its creation. */
  private async deleteShovel(
    client: ManagementClient,
    rule: { id: string; name: string; clusterIds: string[] },
    vhost: string,
    name: string,
    reason: string,
  ): Promise<void> {
    await this.audit.aroundBrokerCall(
      {
        action: 'overflow.shovel.delete',
        resourceType: 'overflow-rule',
        resourceId: rule.id,
        resourceName: rule.name,
        clusterIds: rule.clusterIds,
        details: { shovel: name, vhost, reason },
        actor: systemActor('overflow'),
      },
      () =>
        client.delete(managementPaths.shovel(vhost, name)).catch((err: unknown) => {
          if (!(err instanceof BrokerNotFoundError)) throw err;
        }),
    );
  }

  private async record(
    rule: OverflowRuleEntity,
    d: Decision,
    depth: number | null,
    gateClosed: string | null,
    batch: OverflowRuleEntity['batch'],
    diverted: bigint,
  ): Promise<void> {
    const changed = d.state !== rule.state;
    const values = {
      depth,
      highWatermark: rule.highWatermark,
      lowWatermark: rule.lowWatermark,
      gate: gateClosed ?? 'open',
      batch,
      // Finished batches plus what the running one has moved so far.
      diverted: Number(diverted) + (batch?.acked ?? 0),
    };
    if (!changed) {
      await this.ds.query(
        `UPDATE overflow_rules SET state_reason = $2, last_depth = $3, last_evaluated_at = now(), batch = $4, diverted = $5
          WHERE id = $1`,
        [rule.id, d.reason, depth, batch ? JSON.stringify(batch) : null, diverted.toString()],
      );
      return;
    }
    await this.ds.transaction(async (m) => {
      await m.query(
        `UPDATE overflow_rules SET state = $2, state_reason = $3, state_since = now(), last_depth = $4,
            last_evaluated_at = now(), batch = $5, diverted = $6,
            activations = activations + $7
          WHERE id = $1`,
        [
          rule.id,
          d.state,
          d.reason,
          depth,
          batch ? JSON.stringify(batch) : null,
          diverted.toString(),
          d.action === 'activate' ? 1 : 0,
        ],
      );
      const sites = (await m.query(`SELECT DISTINCT site_id FROM clusters WHERE id = ANY($1)`, [
        [rule.clusterId, rule.remoteClusterId],
      ])) as { site_id: string }[];
      await this.audit.record(m, {
        action: 'overflow.state.changed',
        resourceType: 'overflow-rule',
        resourceId: rule.id,
        resourceName: rule.name,
        siteIds: sites.map((s) => s.site_id),
        clusterIds: [rule.clusterId, rule.remoteClusterId],
        before: { state: rule.state, reason: rule.stateReason },
        after: { state: d.state, reason: d.reason, values },
        actor: systemActor('overflow'),
      });
    });
  }
}
