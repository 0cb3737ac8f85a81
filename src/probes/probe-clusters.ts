import type { Logger } from '@nestjs/common';
import type { AmqpSession } from '../broker/amqp-session';
import type { BrokerGateway } from '../broker/broker-gateway';
import type { ManagementClient } from '../broker/management-client';
import { sessionUri } from '../broker-topology/link-uri';
import type { ClustersService } from '../clusters/clusters.service';
import type { Clock } from '../common/clock/clock';
import type { AppConfig } from '../config/config.module';
import { loopPathId, resolveLoop, type LoopState, type ProbeBody } from './path-state';
import type { ProbeModel } from './probe-model';
import { probeQueueArguments, probeVhost, type ProbePath } from './probe-topology';

export interface ProbeClustersDeps {
  clusters: Pick<ClustersService, 'access'>;
  gateway: Pick<BrokerGateway, 'management' | 'amqpSession'>;
  env: Pick<AppConfig, 'BROKER_HTTP_TIMEOUT_MS' | 'PROBE_INTERVAL_MS' | 'PROBE_WINDOW_MS'>;
  clock: Clock;
  logger: Pick<Logger, 'log'>;
  instanceId: string;
  /** The broker blocked or unblocked a cluster's probe connection. */
  onBlocked: (clusterId: string) => void;
  /** A message arrived on a loopback queue. */
  received: (content: Buffer) => void;
}

/**
 * crossdock's own connections to each probed cluster: one AMQP session in the probe vhost (as
 * crossdock's admin user) with its loopback, and one management client; each is rebuilt when
 * the cluster changes (nodes, credentials).
 */
export class ProbeClusters {
  private readonly sessions = new Map<string, { session: AmqpSession; version: number }>();
  private readonly loops = new Map<string, LoopState>();
  private readonly clients = new Map<string, { client: ManagementClient; version: number }>();
  /** The newest session ensure per cluster: what a path's probe task waits for. */
  readonly ensuring = new Map<string, Promise<AmqpSession | undefined>>();

  constructor(private readonly d: ProbeClustersDeps) {}

  /** Clusters with a session. */
  ids(): string[] {
    return [...this.sessions.keys()];
  }

  sessionOf(clusterId: string): AmqpSession | undefined {
    return this.sessions.get(clusterId)?.session;
  }

  /** Drops a cluster no held path touches any more (its session closes in the background). */
  forget(clusterId: string): void {
    void this.sessions.get(clusterId)?.session.close();
    this.sessions.delete(clusterId);
    this.loops.delete(clusterId);
    this.clients.delete(clusterId);
    this.ensuring.delete(clusterId);
  }

  /** Loopback probes older than 10 s are given up. */
  expireLoops(now: number): void {
    for (const [, l] of this.loops)
      for (const [seq, sent] of l.pending) if (now - sent > 10000) l.pending.delete(seq);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.sessions.values()].map(({ session }) => session.close()));
    this.sessions.clear();
  }

  /** One AMQP session per cluster, in the probe vhost, as crossdock's admin user. */
  async session(clusterId: string, model: ProbeModel): Promise<AmqpSession | undefined> {
    const version = model.clusterVersion(clusterId);
    const cur = this.sessions.get(clusterId);
    if (cur && cur.version === version) {
      await cur.session.ensure();
      return cur.session;
    }
    if (cur) void cur.session.close();
    try {
      const access = await this.d.clusters.access(clusterId);
      const session = this.d.gateway.amqpSession({
        endpoints: access.nodes.map((n) => ({ host: n.host, port: n.amqpPort })),
        uri: sessionUri(access, probeVhost, 5, !!access.tls),
        networks: access.networks,
        tls: access.tls,
        connectTimeoutMs: this.d.env.BROKER_HTTP_TIMEOUT_MS,
        confirmTimeoutMs: Math.max(5000, 5 * this.d.env.PROBE_INTERVAL_MS),
        // An alarm anywhere in the cluster blocks this connection on its next publish (the
        // loopback publishes every interval): read the alarms now, not at the next poll.
        onBlocked: (reason) => {
          this.d.logger.log(
            { clusterId, blocked: reason ?? null },
            reason
              ? 'the broker blocks the probe connection: reading its alarms'
              : 'the broker unblocked the probe connection: reading its alarms',
          );
          this.d.onBlocked(clusterId);
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

  /** Sends one loopback probe through the cluster's exclusive queue (declared once per epoch). */
  async loopback(clusterId: string): Promise<void> {
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
          (msg) => this.d.received(msg.content),
          { noAck: true },
        );
      } catch {
        return;
      }
    }
    const seq = ++l.seq;
    const body: ProbeBody = {
      i: this.d.instanceId,
      p: loopPathId(clusterId),
      s: seq,
      t: this.d.clock.monotonic(),
    };
    l.pending.set(seq, body.t);
    await session
      .publish('', l.queue as string, Buffer.from(JSON.stringify(body)), { persistent: false })
      .catch(() => l?.pending.delete(seq));
  }

  /** A loopback probe came back (`b.p` is `loop:<cluster>`). */
  loopReceived(b: ProbeBody, now: number): void {
    const l = this.loops.get(b.p.slice(5));
    const sent = l?.pending.get(b.s);
    if (!l || sent === undefined) return;
    l.pending.delete(b.s);
    resolveLoop(l, now, now - sent, this.d.env.PROBE_WINDOW_MS);
  }

  /** crossdock's own legs: half the loopback time at each end (median over the window). */
  baseline(p: ProbePath): number {
    return (
      (this.loops.get(p.fromClusterId)?.half ?? 0) + (this.loops.get(p.toClusterId)?.half ?? 0)
    );
  }

  /** One management client per cluster, rebuilt when the cluster (nodes, credentials) changed. */
  async managementClient(clusterId: string, model: ProbeModel): Promise<ManagementClient> {
    const version = model.clusterVersion(clusterId);
    const cur = this.clients.get(clusterId);
    if (cur && cur.version === version) return cur.client;
    const access = await this.d.clusters.access(clusterId);
    const client = this.d.gateway.management(access);
    this.clients.set(clusterId, { client, version });
    return client;
  }
}
