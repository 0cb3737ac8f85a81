import type { AmqpSession } from '../broker/amqp-session';
import type { BrokerGateway } from '../broker/broker-gateway';
import { sessionUri } from '../broker-topology/link-uri';
import type { ClusterAccess } from '../clusters/cluster-access.service';
import type { ClustersService } from '../clusters/clusters.service';

/**
 * The overflow engine's own AMQP sessions, one per cluster and vhost, for reading queue depths
 * (the watched queue, the remote target). Every use re-reads the cluster's access: credentials
 * not bound to the current endpoints (or new credentials, or moved nodes) end a session opened
 * before the change.
 */
export class OverflowSessions {
  private readonly sessions = new Map<string, AmqpSession>();
  /** What each session was opened with (credentials version, endpoints, TLS). */
  private readonly identity = new Map<string, string>();

  constructor(
    private readonly clusters: Pick<ClustersService, 'access'>,
    private readonly gateway: BrokerGateway,
    private readonly connectTimeoutMs: number,
  ) {}

  /** The session to `vhost` on a cluster, connected; `current`: the access just read. */
  async get(clusterId: string, vhost: string, current?: ClusterAccess): Promise<AmqpSession> {
    const key = keyOf(clusterId, vhost);
    let access;
    try {
      access = current ?? (await this.clusters.access(clusterId));
    } catch (err) {
      await this.dropKey(key);
      throw err;
    }
    const identity = JSON.stringify([
      access.cluster.credentialsVersion,
      access.nodes.map((n) => [n.host, n.amqpPort]),
      access.tls ?? null,
    ]);
    let s = this.sessions.get(key);
    if (s && this.identity.get(key) !== identity) {
      await this.dropKey(key);
      s = undefined;
    }
    if (!s) {
      s = this.gateway.amqpSession({
        endpoints: access.nodes.map((n) => ({ host: n.host, port: n.amqpPort })),
        uri: sessionUri(access, vhost, undefined, !!access.tls),
        networks: access.networks,
        tls: access.tls,
        connectTimeoutMs: this.connectTimeoutMs,
      });
      this.sessions.set(key, s);
      this.identity.set(key, identity);
    }
    await s.ensure();
    return s;
  }

  /** Ends the session to `vhost` on a cluster, if there is one. */
  drop(clusterId: string, vhost: string): Promise<void> {
    return this.dropKey(keyOf(clusterId, vhost));
  }

  async closeAll(): Promise<void> {
    for (const s of this.sessions.values()) await s.close();
    this.sessions.clear();
    this.identity.clear();
  }

  private async dropKey(key: string): Promise<void> {
    const s = this.sessions.get(key);
    this.sessions.delete(key);
    this.identity.delete(key);
    await s?.close();
  }
}

const keyOf = (clusterId: string, vhost: string) => `${clusterId}\u0000${vhost}`;
