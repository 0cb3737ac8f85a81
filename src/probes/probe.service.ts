import { sessionUri } from '../broker-topology/link-uri';
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
import { AmqpSession } from '../broker/amqp-session';
import type { ManagementClient } from '../broker/management-client';
import { BrokerGateway } from '../broker/broker-gateway';
import { Clock } from '../common/clock/clock';
import { ClustersService } from '../clusters/clusters.service';
import { AppConfig } from '../config/config.module';
import { scheduleEvery, unschedule } from '../common/scheduling/schedule';
import { AlarmWatch } from './alarm-watch';
import { BackgroundWork } from './background-work';
import { readClusterFacts, unreadableFacts, type ClusterFacts } from './broker-facts';
import { HealthRecorder } from './health-recorder';
import {
  defaultThresholds,
  pathStatus,
  pathView,
  percentile,
  type HealthThresholds,
  type PathView,
  type ResolvedProbe,
} from './link-health';
import { LinkModel, loadLinkModel, type ProbeModel } from './probe-model';
import { lockSessionOptions } from '../database/lock-session';
import { PathLocks } from './path-locks';
import { ProbeMetrics } from './probe-metrics';
import { CertificateWatch } from '../clusters/certificate-watch';
import {
  probeNames,
  probePaths,
  probeQueueArguments,
  probeVhost,
  type ProbePath,
} from './probe-topology';

interface PathState {
  path: ProbePath;
  seq: number;
  /** seq -> send time (performance.now of this process). */
  pending: Map<number, number>;
  window: ResolvedProbe[];
  downAfterMs: number;
  unmeasurable?: string;
  lastStatus?: PathView['status'];
  /** Probes in flight while the path was down (their lag measures the outage). */
  outage: Set<number>;
  /**
   * When this path's probe task got its sessions and started binding and consuming
   * (performance.now); unset once it publishes (the probe is pending then) or ends. A task still
   * there after downAfterMs counts as an overdue probe (a blocked connection answers no channel
   * operation).
   */
  busySince?: number;
}

interface LoopState {
  queue?: string;
  epoch: number;
  seq: number;
  pending: Map<number, number>;
  window: { at: number; ms: number }[];
  /** Half the median of `window` (this end's share of a probe's time), kept as it changes. */
  half: number;
}

interface SampleRow {
  pathId: string;
  at: Date;
  seq: number;
  lagMs: number | null;
  rawMs: number | null;
  lost: boolean;
}

interface ProbeBody {
  i: string;
  p: string;
  s: number;
  t: number;
}

const loopPathId = (clusterId: string) => `loop:${clusterId}`;

/**
 * Lag probes. Every probe interval, for each path whose advisory lock this instance holds, a
 * sequenced probe stamped with this process's monotonic clock is published at the source with
 * publisher confirms and consumed at the destination over crossdock's own connections; probes
 * of other instances are dropped. Lag = receive - send - the baseline of crossdock's own legs
 * (half the loopback time of each end, measured the same way through an exclusive queue), so
 * the figure is the link's own delay wherever crossdock runs. A probe not received within the
 * path's downAfterMs is lost and the path is down until a probe arrives in time again.
 *
 * Probes are measurements, not data: they are published transient (the confirm still says the
 * broker routed and enqueued them; the probe queues' TTL and length limit bound them) and
 * consumed without acks (an ack would only ask the broker to redeliver a probe whose loss is
 * exactly what is being measured). That saves a disk write per hop and a socket write per
 * delivery.
 *
 * The loop runs four sub-ticks per interval: probes go out on the first one due by the clock
 * (a sub-tick skipped while a slow one runs does not stretch the interval), overdue probes are
 * noticed on every one, so a cut shows within downAfterMs plus a quarter interval.
 *
 * Probes are isolated: the loop itself only reads the registry, starts work and evaluates. Every
 * piece of broker work (a cluster's session, its loopback, each path's probe with its confirm,
 * each cluster's broker poll and alarm reads) runs in the background under a key of its own, one
 * at a time per key; a cluster that is blocked by an alarm (trap 22: confirms wait until it
 * clears), slow or unreachable holds up only the paths that touch it. Connects and confirms
 * have deadlines; channel operations on a blocked connection have none, so a path task running
 * longer than downAfterMs counts as an overdue probe (`busySince`).
 */
@Injectable()
export class ProbeService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Probes');
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly paths = new Map<string, PathState>();
  private readonly loops = new Map<string, LoopState>();
  private readonly sessions = new Map<string, { session: AmqpSession; version: number }>();
  private readonly clients = new Map<string, { client: ManagementClient; version: number }>();
  private readonly facts = new Map<string, ClusterFacts>();
  /** The newest session ensure per cluster: what a path's probe task waits for. */
  private readonly ensuring = new Map<string, Promise<AmqpSession | undefined>>();
  private readonly lastPoll = new Map<string, number>();
  private readonly work = new BackgroundWork((key, err) =>
    this.logger.debug(
      { key, err: err instanceof Error ? err.message : String(err) },
      'probe work failed',
    ),
  );
  private readonly alarms = new AlarmWatch(
    this.work,
    (id) => this.managementClient(id, this.model as ProbeModel),
    () => (this.factsRead = true),
  );
  private samples: SampleRow[] = [];
  private locks?: PathLocks;
  private ticking = false;
  /** When the next probe round is due (performance.now(), through the clock); unset until the first tick. */
  private nextRound?: number;
  /** A poll or an alarm read finished since the last evaluation: the next sub-tick evaluates. */
  private factsRead = false;
  private lastFlush = 0;
  private lastRetention = 0;
  private model?: ProbeModel;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly env: AppConfig,
    private readonly recorder: HealthRecorder,
    private readonly metrics: ProbeMetrics,
    private readonly certs: CertificateWatch,
    private readonly scheduler: SchedulerRegistry,
    private readonly gateway: BrokerGateway,
    private readonly clock: Clock,
  ) {}

  get enabled(): boolean {
    return this.env.PROBES_ENABLED === 'true';
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.locks = new PathLocks(lockSessionOptions(this.env, 'crossdock-probe-locks'));
    const every = Math.max(25, Math.round(this.env.PROBE_INTERVAL_MS / 4));
    scheduleEvery(this.scheduler, 'probe-loop', every, () => this.tick());
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    unschedule(this.scheduler, 'probe-loop');
    while (this.ticking) await new Promise((r) => setTimeout(r, 20));
    await this.work.stop(3000);
    await this.flush().catch(() => undefined);
    await Promise.all([...this.sessions.values()].map(({ session }) => session.close()));
    this.sessions.clear();
    await this.locks?.close();
  }

  /**
   * Is data crossing this path now? From memory when this instance probes it, else from the
   * stored samples (flushed every 2 s), so any replica can gate on any path.
   */
  async pathStatus(pathId: string): Promise<{ up: boolean; reason: string }> {
    const s = this.paths.get(pathId);
    if (s) {
      const v = this.view(s);
      if (v.unmeasurable) return { up: false, reason: v.unmeasurable };
      if (v.status === 'up') return { up: true, reason: 'probes are crossing' };
      return {
        up: false,
        reason:
          v.status === 'down' ? 'probes are not crossing the path' : 'no probe has crossed yet',
      };
    }
    const [row] = (await this.ds.query(
      `SELECT lost, extract(epoch FROM now() - at) * 1000 AS age_ms FROM probe_samples
        WHERE path_id = $1 ORDER BY at DESC LIMIT 1`,
      [pathId],
    )) as { lost: boolean; age_ms: number }[];
    if (!row) return { up: false, reason: 'no probe has crossed this path yet' };
    if (row.lost) return { up: false, reason: 'the last probe on the path was lost' };
    const limit = 3 * this.env.PROBE_INTERVAL_MS + 2500;
    if (Number(row.age_ms) > limit)
      return {
        up: false,
        reason: `no probe crossed the path for ${Math.round(Number(row.age_ms))} ms`,
      };
    return { up: true, reason: 'probes are crossing' };
  }

  /** Paths this instance holds, with their live view (for the API and metrics). */
  heldPaths(): { id: string; path: ProbePath; view: PathView }[] {
    return [...this.paths.values()].map((s) => ({
      id: s.path.id,
      path: s.path,
      view: this.view(s),
    }));
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const started = this.clock.monotonic();
      const due = this.nextRound ?? started;
      const interval = this.env.PROBE_INTERVAL_MS;
      // The sub-tick nearest the due time sends (half a sub-tick early is on time).
      const full = started >= due - interval / 8;
      if (full) {
        // Rounds keep the interval's cadence; one more than half an interval late re-anchors it.
        this.nextRound = (started - due > interval / 2 ? started : due) + interval;
        await this.sendRound();
      }
      const now = this.clock.monotonic();
      let flipped = false;
      for (const s of this.paths.values()) {
        this.expire(s, now);
        const status = pathStatus(s.window, this.oldestPending(s, now), s.downAfterMs);
        if (status !== s.lastStatus) flipped = true;
        if (status === 'down') for (const seq of s.pending.keys()) s.outage.add(seq);
        for (const seq of s.outage) if (!s.pending.has(seq)) s.outage.delete(seq);
      }
      for (const [, l] of this.loops)
        for (const [seq, sent] of l.pending) if (now - sent > 10000) l.pending.delete(seq);
      const factsRead = this.factsRead;
      this.factsRead = false;
      if (full || flipped || factsRead) await this.evaluate();
      if (this.clock.nowMs() - this.lastFlush > 2000) await this.flush();
      if (this.clock.nowMs() - this.lastRetention > 60000) await this.retention();
    } catch (err) {
      this.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'probe tick failed',
      );
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Reads the registry and the path locks, then starts this round's broker work in the
   * background and returns: nothing here waits for a broker.
   */
  private async sendRound(): Promise<void> {
    this.model = await loadLinkModel(this.ds);
    const model = this.model;
    const all = probePaths(
      model.links.filter((l) => l.kind === 'federation').map(toRow),
      model.links.filter((l) => l.kind !== 'federation').map(toRow),
    );
    const held = await (this.locks as PathLocks).sync(all.map((p) => p.id));
    for (const id of [...this.paths.keys()]) if (!held.has(id)) this.dropPath(id);
    for (const p of all) {
      if (!held.has(p.id)) continue;
      const s = this.paths.get(p.id) ?? this.addPath(p);
      s.path = p;
      s.downAfterMs = Math.min(...p.linkIds.map((id) => this.thresholdsFor(model, id).downAfterMs));
    }
    const clusters = new Set<string>();
    for (const s of this.paths.values()) {
      clusters.add(s.path.fromClusterId);
      clusters.add(s.path.toClusterId);
    }
    for (const id of [...this.sessions.keys()]) {
      if (!clusters.has(id)) {
        void this.sessions.get(id)?.session.close();
        this.sessions.delete(id);
        this.loops.delete(id);
        this.clients.delete(id);
        this.ensuring.delete(id);
        this.lastPoll.delete(id);
        this.alarms.forget(id);
      }
    }
    for (const id of clusters) {
      // A session ensure still running (a connect, or channels on a blocked connection) is
      // what this round's paths of that cluster wait for; no second one is started beside it.
      if (!this.work.busy(`session:${id}`)) {
        const ensured = this.session(id, model).catch(() => undefined);
        this.ensuring.set(id, ensured);
        this.work.start(`session:${id}`, async () => void (await ensured));
      }
      this.work.start(`loop:${id}`, async () => {
        if (await this.ensuring.get(id)) await this.loopback(id);
      });
      if (this.sessions.get(id)?.session.blocked || this.alarms.inAlarm(id)) this.alarms.check(id);
    }
    for (const s of this.paths.values()) {
      const blocked = this.sessions.get(s.path.fromClusterId)?.session.blocked;
      if (blocked) s.unmeasurable = blockedReason(blocked);
      this.work.start(`path:${s.path.id}`, async () => {
        await Promise.all([
          this.ensuring.get(s.path.fromClusterId),
          this.ensuring.get(s.path.toClusterId),
        ]);
        s.busySince = this.clock.monotonic();
        try {
          await this.send(s);
        } finally {
          s.busySince = undefined;
        }
      });
    }
    // The management API can be slow on a loaded broker: each cluster's poll runs on its own,
    // beside the rounds; evaluations use the newest facts read.
    const wanted = this.heldLinks(model);
    const now = this.clock.nowMs();
    for (const id of clusters) {
      if (now - (this.lastPoll.get(id) ?? 0) < this.env.PROBE_BROKER_POLL_MS) continue;
      if (this.work.busy(`poll:${id}`)) continue;
      this.lastPoll.set(id, now);
      this.work.start(`poll:${id}`, () =>
        this.poll(id, wanted, model).finally(() => (this.factsRead = true)),
      );
    }
  }

  private addPath(p: ProbePath): PathState {
    const s: PathState = {
      path: p,
      seq: 0,
      pending: new Map(),
      window: [],
      downAfterMs: 1000,
      outage: new Set(),
    };
    this.paths.set(p.id, s);
    return s;
  }

  private dropPath(id: string): void {
    const s = this.paths.get(id);
    this.paths.delete(id);
    if (!s) return;
    // Not awaited: closing a channel waits for the broker, which a blocked connection is not.
    void this.sessions.get(s.path.toClusterId)?.session.cancel(consumeQueue(s.path));
  }

  private thresholdsFor(model: ProbeModel, linkId: string): HealthThresholds {
    const l = model.links.find((x) => x.id === linkId);
    const rtt = l ? Math.max(model.rtt(l.fromClusterId), model.rtt(l.toClusterId)) : 50;
    return {
      ...defaultThresholds({ expectedRttMs: rtt, probeIntervalMs: this.env.PROBE_INTERVAL_MS }),
      ...(model.health.get(linkId)?.thresholds ?? {}),
    };
  }

  /** One AMQP session per cluster, in the probe vhost, as crossdock's admin user. */
  private async session(clusterId: string, model: ProbeModel): Promise<AmqpSession | undefined> {
    const version = model.clusterVersion(clusterId);
    const cur = this.sessions.get(clusterId);
    if (cur && cur.version === version) {
      await cur.session.ensure();
      return cur.session;
    }
    if (cur) void cur.session.close();
    try {
      const access = await this.clusters.access(clusterId);
      const session = new AmqpSession({
        endpoints: access.nodes.map((n) => ({ host: n.host, port: n.amqpPort })),
        uri: sessionUri(access, probeVhost, 5, !!access.tls),
        networks: access.networks,
        tls: access.tls,
        connectTimeoutMs: this.env.BROKER_HTTP_TIMEOUT_MS,
        confirmTimeoutMs: Math.max(5000, 5 * this.env.PROBE_INTERVAL_MS),
        // An alarm anywhere in the cluster blocks this connection on its next publish (the
        // loopback publishes every interval): read the alarms now, not at the next poll.
        onBlocked: (reason) => {
          this.logger.log(
            { clusterId, blocked: reason ?? null },
            reason
              ? 'the broker blocks the probe connection: reading its alarms'
              : 'the broker unblocked the probe connection: reading its alarms',
          );
          this.alarms.check(clusterId);
        },
      });
      this.sessions.set(clusterId, { session, version });
      this.loops.delete(clusterId);
      await session.ensure();
      return session;
    } catch {
      return undefined;
    }
  }

  private async loopback(clusterId: string): Promise<void> {
    const session = this.sessions.get(clusterId)?.session;
    if (!session?.up) return;
    let l = this.loops.get(clusterId);
    if (!l || l.epoch !== session.epoch || !l.queue) {
      l = { epoch: session.epoch, seq: 0, pending: new Map(), window: [], half: 0 };
      this.loops.set(clusterId, l);
      const state = l;
      try {
        state.queue = await session.consumeExclusive(
          probeQueueArguments,
          (msg) => this.received(msg.content),
          { noAck: true },
        );
      } catch {
        return;
      }
    }
    const seq = ++l.seq;
    const body: ProbeBody = {
      i: this.instanceId,
      p: loopPathId(clusterId),
      s: seq,
      t: this.clock.monotonic(),
    };
    l.pending.set(seq, body.t);
    await session
      .publish('', l.queue as string, Buffer.from(JSON.stringify(body)), { persistent: false })
      .catch(() => l?.pending.delete(seq));
  }

  private async send(s: PathState): Promise<void> {
    const p = s.path;
    const src = this.sessions.get(p.fromClusterId)?.session;
    const dst = this.sessions.get(p.toClusterId)?.session;
    if (!dst?.up) {
      s.unmeasurable = `crossdock cannot reach the destination cluster over AMQP${dst?.lastError ? `: ${dst.lastError}` : ''}`;
      return;
    }
    const queue = consumeQueue(p);
    // Exchange federation moves nothing without a downstream binding.
    if (p.kind === 'federation')
      await dst.bind(queue, probeNames.exchange(p.fromClusterId, p.toClusterId));
    // The probe exchange of a source is federated to each of its downstream clusters, so a
    // path's probe also arrives at the others: only the copy at this path's destination counts.
    dst.consume(queue, (msg) => this.received(msg.content, p.id), { noAck: true });
    await dst.ensure();
    if (!dst.consuming(queue)) {
      s.unmeasurable = `the probe queue at the destination is not consumable yet (not reconciled?)${dst.lastError ? `: ${dst.lastError}` : ''}`;
      return;
    }
    if (!src?.up) {
      s.unmeasurable = `crossdock cannot reach the source cluster over AMQP${src?.lastError ? `: ${src.lastError}` : ''}`;
      return;
    }
    if (src.blocked) {
      // Nothing published at the source gets in while the alarm lasts: not a lost probe.
      s.unmeasurable = blockedReason(src.blocked);
      return;
    }
    // From here the probe itself is pending: a confirm slowed by flow control is not a stuck task
    // (the probe may well have crossed already).
    s.busySince = undefined;
    const seq = ++s.seq;
    const body: ProbeBody = { i: this.instanceId, p: p.id, s: seq, t: this.clock.monotonic() };
    s.pending.set(seq, body.t);
    const [exchange, key] =
      p.kind === 'federation'
        ? [probeNames.exchange(p.fromClusterId, p.toClusterId), '']
        : ['', probeNames.shovelSource(p.toClusterId)];
    try {
      await src.publish(exchange, key, Buffer.from(JSON.stringify(body)), { persistent: false });
      s.unmeasurable = undefined;
    } catch (err) {
      // Not sent is not lost: crossdock could not hand the probe to the source cluster.
      s.pending.delete(seq);
      s.unmeasurable = src.blocked
        ? blockedReason(src.blocked)
        : `the source cluster did not confirm a probe: ${err instanceof Error ? err.message : 'failed'}`;
    }
  }

  /** `via`: the path whose destination queue delivered the probe (loopbacks: none). */
  private received(content: Buffer, via?: string): void {
    const now = this.clock.monotonic();
    let b: ProbeBody;
    try {
      b = JSON.parse(content.toString('utf8')) as ProbeBody;
    } catch {
      return;
    }
    if (b?.i !== this.instanceId || typeof b.p !== 'string' || typeof b.s !== 'number') return;
    if (via !== undefined && b.p !== via) return;
    if (b.p.startsWith('loop:')) {
      const l = this.loops.get(b.p.slice(5));
      const sent = l?.pending.get(b.s);
      if (!l || sent === undefined) return;
      l.pending.delete(b.s);
      l.window.push({ at: now, ms: now - sent });
      const cutoff = now - this.env.PROBE_WINDOW_MS;
      while (l.window.length && l.window[0].at < cutoff) l.window.shift();
      l.half =
        (percentile(
          l.window.map((w) => w.ms),
          0.5,
        ) ?? 0) / 2;
      return;
    }
    const s = this.paths.get(b.p);
    const sent = s?.pending.get(b.s);
    if (!s || sent === undefined) return; // late (already counted lost) or a replay
    s.pending.delete(b.s);
    const raw = now - sent;
    const lag = Math.max(0, raw - this.baseline(s.path));
    const outage = s.outage.delete(b.s);
    this.resolve(s, outage ? { at: now, lagMs: lag, outage } : { at: now, lagMs: lag });
    this.metrics.lag.observe({ path: s.path.id }, lag / 1000);
    this.samples.push({
      pathId: s.path.id,
      at: this.clock.now(),
      seq: b.s,
      lagMs: lag,
      rawMs: raw,
      lost: false,
    });
  }

  /** crossdock's own legs: half the loopback time at each end (median over the window). */
  baseline(p: ProbePath): number {
    return (
      (this.loops.get(p.fromClusterId)?.half ?? 0) + (this.loops.get(p.toClusterId)?.half ?? 0)
    );
  }

  private resolve(s: PathState, r: ResolvedProbe): void {
    s.window.push(r);
    const cutoff = r.at - this.env.PROBE_WINDOW_MS;
    while (s.window.length && s.window[0].at < cutoff) s.window.shift();
  }

  private expire(s: PathState, now: number): void {
    for (const [seq, sent] of s.pending) {
      if (now - sent <= s.downAfterMs) continue;
      s.pending.delete(seq);
      this.resolve(s, { at: now, lagMs: null });
      this.metrics.lost.inc({ path: s.path.id });
      this.samples.push({
        pathId: s.path.id,
        at: this.clock.now(),
        seq,
        lagMs: null,
        rawMs: null,
        lost: true,
      });
    }
  }

  private oldestPending(s: PathState, now: number): number | null {
    let oldest: number | null = s.busySince === undefined ? null : now - s.busySince;
    for (const sent of s.pending.values()) oldest = Math.max(oldest ?? 0, now - sent);
    return oldest;
  }

  private view(s: PathState): PathView {
    const v = pathView(s.window, this.oldestPending(s, this.clock.monotonic()), s.downAfterMs);
    return s.unmeasurable ? { ...v, unmeasurable: s.unmeasurable } : v;
  }

  /** The user links of the paths this instance holds. */
  private heldLinks(model: ProbeModel): LinkModel[] {
    const held = new Set([...this.paths.values()].flatMap((s) => s.path.linkIds));
    return model.links.filter((l) => held.has(l.id));
  }

  /** One cluster's broker facts (its alarms recorded with them). */
  private async poll(id: string, links: LinkModel[], model: ProbeModel): Promise<void> {
    try {
      const client = await this.managementClient(id, model);
      const facts = await readClusterFacts(id, client, {
        federationLinks: links.some((l) => l.kind === 'federation' && l.toClusterId === id),
        shovels: links.some((l) => l.kind === 'shovel' && l.fromClusterId === id),
        queues: links.some((l) => l.fromClusterId === id),
        exchanges: links.some((l) => l.targetPrefix !== null && l.toClusterId === id),
      });
      if (!facts.error) this.alarms.record(id, facts.readAt, facts.alarms);
      // Certificates change rarely: read them every TLS_CERT_CHECK_INTERVAL_MS, beside the poll.
      if (this.certs.due(id)) {
        this.work.start(`certs:${id}`, async () => {
          await this.certs.read(await this.clusters.access(id));
        });
      }
      facts.certificates = this.certs.last(id);
      this.facts.set(id, facts);
    } catch (err) {
      this.facts.set(id, unreadableFacts(id, err));
    }
  }

  /** One management client per cluster, rebuilt when the cluster (nodes, credentials) changed. */
  private async managementClient(clusterId: string, model: ProbeModel): Promise<ManagementClient> {
    const version = model.clusterVersion(clusterId);
    const cur = this.clients.get(clusterId);
    if (cur && cur.version === version) return cur.client;
    const access = await this.clusters.access(clusterId);
    const client = this.gateway.management(access);
    this.clients.set(clusterId, { client, version });
    return client;
  }

  private async evaluate(): Promise<void> {
    const model = this.model;
    if (!model) return;
    const views = new Map<string, PathView>();
    for (const s of this.paths.values()) {
      const v = this.view(s);
      s.lastStatus = v.status;
      views.set(s.path.id, v);
      this.metrics.pathUp.set({ path: s.path.id }, v.status === 'up' ? 1 : 0);
    }
    const held = [...this.paths.values()].flatMap((s) =>
      s.path.linkIds.map((id) => [id, s] as const),
    );
    const facts = this.alarms.apply(this.facts);
    for (const [linkId, s] of held) {
      const link = model.links.find((l) => l.id === linkId);
      if (!link || link.kind === 'overflow') continue;
      await this.recorder.evaluate({
        link,
        model,
        pathId: s.path.id,
        path: views.get(s.path.id) ?? null,
        facts,
        thresholds: this.thresholdsFor(model, linkId),
        instanceId: this.instanceId,
        certificateThresholds: {
          warnDays: this.env.TLS_CERT_WARN_DAYS,
          criticalDays: this.env.TLS_CERT_CRITICAL_DAYS,
        },
      });
    }
    await this.recorder.flushRefreshes();
    await this.metrics.retain(
      new Set(this.paths.keys()),
      new Set(held.map(([id]) => id).filter((id) => model.links.some((l) => l.id === id))),
    );
  }

  private async flush(): Promise<void> {
    this.lastFlush = this.clock.nowMs();
    if (this.samples.length === 0) return;
    const batch = this.samples;
    this.samples = [];
    try {
      await this.ds.query(
        `INSERT INTO probe_samples (path_id, at, seq, lag_ms, raw_ms, lost, instance_id)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::real[], $5::real[], $6::bool[], $7::text[])`,
        [
          batch.map((b) => b.pathId),
          batch.map((b) => b.at),
          batch.map((b) => b.seq),
          batch.map((b) => b.lagMs),
          batch.map((b) => b.rawMs),
          batch.map((b) => b.lost),
          batch.map(() => this.instanceId),
        ],
      );
    } catch {
      // Postgres away: keep a bounded backlog and retry on the next flush.
      this.samples = [...batch, ...this.samples].slice(-50000);
    }
  }

  /** Per-minute rollups of finished minutes, then raw samples past retention go. */
  private async retention(): Promise<void> {
    this.lastRetention = this.clock.nowMs();
    try {
      await this.ds.query(
        `INSERT INTO probe_rollups (path_id, bucket, samples, lost, lag_p50_ms, lag_p95_ms, lag_max_ms)
         SELECT path_id, date_trunc('minute', at), count(*), count(*) FILTER (WHERE lost),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms),
                percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms), max(lag_ms)
           FROM probe_samples
          WHERE at >= date_trunc('minute', now()) - interval '10 minutes' AND at < date_trunc('minute', now())
          GROUP BY 1, 2
         ON CONFLICT (path_id, bucket) DO UPDATE SET samples = EXCLUDED.samples, lost = EXCLUDED.lost,
           lag_p50_ms = EXCLUDED.lag_p50_ms, lag_p95_ms = EXCLUDED.lag_p95_ms, lag_max_ms = EXCLUDED.lag_max_ms`,
      );
      await this.ds.query(
        `DELETE FROM probe_samples WHERE at < now() - make_interval(hours => $1)`,
        [this.env.PROBE_RETENTION_HOURS],
      );
      await this.ds.query(`DELETE FROM probe_rollups WHERE bucket < now() - interval '30 days'`);
    } catch {
      // next time
    }
  }
}

const blockedReason = (reason: string) =>
  `the source cluster blocks publishing (connection.blocked: ${reason}): no probe can be sent until its alarm clears`;

const toRow = (l: LinkModel) => ({
  id: l.id,
  fromClusterId: l.fromClusterId,
  toClusterId: l.toClusterId,
  paused: l.paused,
});

/** The queue a path's probes arrive in, on the destination cluster. */
export function consumeQueue(p: ProbePath): string {
  return p.kind === 'federation'
    ? probeNames.federationQueue(p.fromClusterId)
    : probeNames.shovelDestination(p.fromClusterId);
}
