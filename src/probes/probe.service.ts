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
import { BrokerGateway } from '../broker/broker-gateway';
import { CertificateWatch } from '../clusters/certificate-watch';
import { ClustersService } from '../clusters/clusters.service';
import { Clock } from '../common/clock/clock';
import { scheduleEvery, unschedule } from '../common/scheduling/schedule';
import { AppConfig } from '../config/config.module';
import { lockSessionOptions } from '../database/lock-session';
import { AlarmWatch } from './alarm-watch';
import { BackgroundWork } from './background-work';
import { readClusterFacts, unreadableFacts, type ClusterFacts } from './broker-facts';
import { HealthRecorder } from './health-recorder';
import { pathStatus, type PathView } from './link-health';
import {
  blockedReason,
  consumeQueue,
  expirePending,
  oldestPending,
  parseProbe,
  receivePathProbe,
  viewOf,
  type PathState,
} from './path-state';
import { HeldPaths, allProbePaths } from './held-paths';
import { PathLocks } from './path-locks';
import { ProbeClusters } from './probe-clusters';
import { ProbeMetrics } from './probe-metrics';
import { LinkModel, loadLinkModel, type ProbeModel } from './probe-model';
import { ProbeSamples } from './probe-samples';
import type { ProbePath } from './probe-topology';
import { evaluateLinks, factsWanted } from './probe-evaluation';
import { sendPathProbe } from './probe-send';

export { consumeQueue } from './path-state';

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
  private readonly paths = new HeldPaths();
  private readonly facts = new Map<string, ClusterFacts>();
  private readonly lastPoll = new Map<string, number>();
  private readonly work = new BackgroundWork((key, err) =>
    this.logger.debug(
      { key, err: err instanceof Error ? err.message : String(err) },
      'probe work failed',
    ),
  );
  private readonly alarms = new AlarmWatch(
    this.work,
    (id) => this.conns.managementClient(id, this.model as ProbeModel),
    () => (this.factsRead = true),
  );
  private locks?: PathLocks;
  private ticking = false;
  /** When the next probe round is due (performance.now(), through the clock); unset until the first tick. */
  private nextRound?: number;
  /** A poll or an alarm read finished since the last evaluation: the next sub-tick evaluates. */
  private factsRead = false;
  private model?: ProbeModel;
  private stopped = false;
  private readonly samples: ProbeSamples;
  private readonly conns: ProbeClusters;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly env: AppConfig,
    private readonly recorder: HealthRecorder,
    private readonly metrics: ProbeMetrics,
    private readonly certs: CertificateWatch,
    private readonly scheduler: SchedulerRegistry,
    gateway: BrokerGateway,
    private readonly clock: Clock,
  ) {
    this.samples = new ProbeSamples(ds, clock, this.instanceId, env.PROBE_RETENTION_HOURS);
    this.conns = new ProbeClusters({
      clusters,
      gateway,
      env,
      clock,
      logger: this.logger,
      instanceId: this.instanceId,
      onBlocked: (id) => this.alarms.check(id),
      received: (content) => this.received(content),
    });
  }

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
    await this.samples.flush().catch(() => undefined);
    await this.conns.closeAll();
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
    return this.samples.storedStatus(pathId, 3 * this.env.PROBE_INTERVAL_MS + 2500);
  }

  /** Paths this instance holds, with their live view (for the API and metrics). */
  heldPaths(): { id: string; path: ProbePath; view: PathView }[] {
    return this.paths.values().map((s) => ({
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
        const status = pathStatus(s.window, oldestPending(s, now), s.downAfterMs);
        if (status !== s.lastStatus) flipped = true;
        if (status === 'down') for (const seq of s.pending.keys()) s.outage.add(seq);
        for (const seq of s.outage) if (!s.pending.has(seq)) s.outage.delete(seq);
      }
      this.conns.expireLoops(now);
      const factsRead = this.factsRead;
      this.factsRead = false;
      if (full || flipped || factsRead) await this.evaluate();
      await this.samples.maintain();
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
    const all = allProbePaths(model);
    const held = await (this.locks as PathLocks).sync(all.map((p) => p.id));
    const clusters = this.paths.sync(all, held, model, this.env.PROBE_INTERVAL_MS, (s) => {
      // Not awaited: closing a channel waits for the broker, which a blocked connection is not.
      void this.conns.sessionOf(s.path.toClusterId)?.cancel(consumeQueue(s.path));
    });
    for (const id of this.conns.ids()) {
      if (!clusters.has(id)) {
        this.conns.forget(id);
        this.lastPoll.delete(id);
        this.alarms.forget(id);
      }
    }
    for (const id of clusters) {
      // A session ensure still running (a connect, or channels on a blocked connection) is
      // what this round's paths of that cluster wait for; no second one is started beside it.
      if (!this.work.busy(`session:${id}`)) {
        const ensured = this.conns.session(id, model).catch(() => undefined);
        this.conns.ensuring.set(id, ensured);
        this.work.start(`session:${id}`, async () => void (await ensured));
      }
      this.work.start(`loop:${id}`, async () => {
        if (await this.conns.ensuring.get(id)) await this.conns.loopback(id);
      });
      if (this.conns.sessionOf(id)?.blocked || this.alarms.inAlarm(id)) this.alarms.check(id);
    }
    for (const s of this.paths.values()) {
      const blocked = this.conns.sessionOf(s.path.fromClusterId)?.blocked;
      if (blocked) s.unmeasurable = blockedReason(blocked);
      this.work.start(`path:${s.path.id}`, async () => {
        await Promise.all([
          this.conns.ensuring.get(s.path.fromClusterId),
          this.conns.ensuring.get(s.path.toClusterId),
        ]);
        s.busySince = this.clock.monotonic();
        try {
          await sendPathProbe(s, {
            src: this.conns.sessionOf(s.path.fromClusterId),
            dst: this.conns.sessionOf(s.path.toClusterId),
            instanceId: this.instanceId,
            clock: this.clock,
            received: (content, via) => this.received(content, via),
          });
        } finally {
          s.busySince = undefined;
        }
      });
    }
    // The management API can be slow on a loaded broker: each cluster's poll runs on its own,
    // beside the rounds; evaluations use the newest facts read.
    const wanted = this.paths.links(model);
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

  /** `via`: the path whose destination queue delivered the probe (loopbacks: none). */
  private received(content: Buffer, via?: string): void {
    const now = this.clock.monotonic();
    const b = parseProbe(content, this.instanceId, via);
    if (!b) return;
    if (b.p.startsWith('loop:')) return this.conns.loopReceived(b, now);
    const s = this.paths.get(b.p);
    const got =
      s && receivePathProbe(s, b, now, this.conns.baseline(s.path), this.env.PROBE_WINDOW_MS);
    if (!s || !got) return; // late (already counted lost) or a replay
    this.metrics.lag.observe({ path: s.path.id }, got.lagMs / 1000);
    this.samples.push({ pathId: s.path.id, at: this.clock.now(), seq: b.s, ...got, lost: false });
  }

  /** crossdock's own legs: half the loopback time at each end (median over the window). */
  baseline(p: ProbePath): number {
    return this.conns.baseline(p);
  }

  private expire(s: PathState, now: number): void {
    expirePending(s, now, this.env.PROBE_WINDOW_MS, (seq) => {
      this.metrics.lost.inc({ path: s.path.id });
      this.samples.push({
        pathId: s.path.id,
        at: this.clock.now(),
        seq,
        lagMs: null,
        rawMs: null,
        lost: true,
      });
    });
  }

  private view(s: PathState): PathView {
    return viewOf(s, this.clock.monotonic());
  }

  /** One cluster's broker facts (its alarms recorded with them). */
  private async poll(id: string, links: LinkModel[], model: ProbeModel): Promise<void> {
    try {
      const client = await this.conns.managementClient(id, model);
      const facts = await readClusterFacts(id, client, factsWanted(id, links));
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

  private async evaluate(): Promise<void> {
    const model = this.model;
    if (!model) return;
    const views = this.paths.values().map((s) => {
      const view = this.view(s);
      s.lastStatus = view.status;
      return { path: s.path, view };
    });
    await evaluateLinks(
      {
        recorder: this.recorder,
        metrics: this.metrics,
        env: this.env,
        instanceId: this.instanceId,
      },
      model,
      views,
      this.alarms.apply(this.facts),
    );
  }
}
