import type { FederationSettings } from '../links/federation-link.entity';
import type { ShovelSettings } from '../links/shovel.entity';
import { managedPrefix, type DesiredObject } from '../broker-topology/broker-objects';
import { encodeUpstream } from '../broker-topology/federation-upstream.codec';
import { localUri } from '../broker-topology/link-uri';
import { encodePolicy, exactNamePattern } from '../broker-topology/policy.codec';
import { encodeShovel } from '../broker-topology/shovel.codec';

/**
 * Probe paths: for every ordered pair of clusters joined by a live link of a kind, crossdock keeps
 * its own path of that kind, built like the user links (same link endpoints, URIs, link user and
 * settings) but in a vhost of its own, so no user policy, upstream set or binding can touch a probe
 * and no probe can reach a user queue. Everything here is pure.
 */
export const probeVhost = `${managedPrefix}probe`;

export type ProbePathKind = 'federation' | 'shovel';

export interface ProbePath {
  /** `federation:<from cluster>:<to cluster>` or `shovel:<from>:<to>`. */
  id: string;
  kind: ProbePathKind;
  fromClusterId: string;
  toClusterId: string;
  /** The user links that travel this way (their health is judged from this path). */
  linkIds: string[];
}

export interface ProbeLinkRow {
  id: string;
  kind?: 'exchange' | 'queue';
  fromClusterId: string;
  toClusterId: string;
  paused: boolean;
}

export const probePathId = (kind: ProbePathKind, from: string, to: string) =>
  `${kind}:${from}:${to}`;

/** Ledger owner of a path's objects (the ledger's owner column is short: abbreviated ids). */
const pathOwner = (kind: ProbePathKind, from: string, to: string) =>
  `probe:${kind}:${from.slice(0, 8)}>${to.slice(0, 8)}`;

/** Broker object names of the probe topology (all inside `probeVhost`). */
export const probeNames = {
  /** On the downstream cluster: the upstream pointing at `from`. */
  upstream: (from: string) => `${managedPrefix}probe.up.${from}`,
  /**
   * Exchange published to on `from` for the path to `to`, federated into `to` under the same
   * name. One per path: a source's single exchange federated to every downstream carried each
   * probe to all of them (N-1 copies decoded and dropped for one that counts).
   */
  exchange: (from: string, to: string) => `${managedPrefix}probe.fx.${from}.${to}`,
  /** On the downstream cluster: the queue bound to that exchange (federation moves nothing unbound). */
  federationQueue: (from: string) => `${managedPrefix}probe.fq.${from}`,
  federationPolicy: (from: string) => `${managedPrefix}probe.pf.${from}`,
  /** On the shovel's source cluster: the queue probes are published to, and the shovel. */
  shovelSource: (to: string) => `${managedPrefix}probe.sq.${to}`,
  shovel: (to: string) => `${managedPrefix}probe.sh.${to}`,
  /** On the shovel's destination cluster. */
  shovelDestination: (from: string) => `${managedPrefix}probe.dq.${from}`,
};

/** Probes older than this are dropped by the broker: a stale probe proves nothing. */
export const probeQueueArguments = { 'x-message-ttl': 60000, 'x-max-length': 10000 };

/** Paths from live links: one per (kind, from, to), links grouped under it in input order. */
export function probePaths(
  federationLinks: readonly ProbeLinkRow[],
  shovels: readonly ProbeLinkRow[],
): ProbePath[] {
  const paths = new Map<string, ProbePath>();
  const add = (kind: ProbePathKind, r: ProbeLinkRow) => {
    if (r.paused) return;
    const id = probePathId(kind, r.fromClusterId, r.toClusterId);
    const p = paths.get(id) ?? {
      id,
      kind,
      fromClusterId: r.fromClusterId,
      toClusterId: r.toClusterId,
      linkIds: [],
    };
    p.linkIds.push(r.id);
    paths.set(id, p);
  };
  for (const l of federationLinks) add('federation', l);
  for (const s of shovels) add('shovel', s);
  return [...paths.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface ProbeCompileInput {
  clusterId: string;
  federationLinks: {
    id: string;
    downstreamClusterId: string;
    upstreamClusterId: string;
    settings: FederationSettings;
    paused: boolean;
  }[];
  shovels: {
    id: string;
    sourceClusterId: string;
    destinationClusterId: string;
    settings: ShovelSettings;
    paused: boolean;
  }[];
  /** amqp URIs (with the link user's credentials) reaching a cluster's probe vhost. */
  uris: (clusterId: string) => string[];
}

/** Does this cluster sit at either end of a live link (so it carries probe objects)? */
export function takesPartInProbes(input: Omit<ProbeCompileInput, 'uris'>): boolean {
  const me = input.clusterId;
  return (
    input.federationLinks.some(
      (l) => !l.paused && (l.downstreamClusterId === me || l.upstreamClusterId === me),
    ) ||
    input.shovels.some(
      (s) => !s.paused && (s.sourceClusterId === me || s.destinationClusterId === me),
    )
  );
}

/**
 * The probe objects one cluster holds. Settings of a path follow its oldest live link (input
 * order), so the probe travels with the prefetch, ack mode and reconnect delay users have.
 */
export function compileProbeObjects(input: ProbeCompileInput): {
  objects: DesiredObject[];
  warnings: string[];
} {
  const me = input.clusterId;
  const objects: DesiredObject[] = [];
  const warnings: string[] = [];
  const put = (o: Omit<DesiredObject, 'vhost'>) => {
    if (!objects.some((x) => x.kind === o.kind && x.name === o.name))
      objects.push({ ...o, vhost: probeVhost });
  };
  const queue = (name: string, owner: string) =>
    put({
      kind: 'queue',
      name,
      value: { durable: true, auto_delete: false, arguments: probeQueueArguments },
      owner,
    });
  const exchange = (name: string, owner: string) =>
    put({
      kind: 'exchange',
      name,
      value: { type: 'fanout', durable: true, auto_delete: false, internal: false, arguments: {} },
      owner,
    });

  const live = input.federationLinks.filter((l) => !l.paused);
  const upstreamsOfMine = new Map<string, (typeof live)[number]>();
  for (const l of live) {
    if (l.upstreamClusterId === me)
      exchange(
        probeNames.exchange(me, l.downstreamClusterId),
        pathOwner('federation', me, l.downstreamClusterId),
      );
    if (l.downstreamClusterId === me && !upstreamsOfMine.has(l.upstreamClusterId))
      upstreamsOfMine.set(l.upstreamClusterId, l);
  }
  for (const [from, l] of upstreamsOfMine) {
    const owner = pathOwner('federation', from, me);
    const uris = input.uris(from);
    if (uris.length === 0) {
      warnings.push(
        `probe path from cluster ${from}: no link endpoints or link credentials yet, not built`,
      );
      continue;
    }
    const st = l.settings;
    put({
      kind: 'federation-upstream',
      name: probeNames.upstream(from),
      value: encodeUpstream({
        uris,
        kind: 'exchange',
        settings: {
          ackMode: st.ackMode,
          prefetchCount: st.prefetchCount,
          reconnectDelaySeconds: st.reconnectDelaySeconds,
          trustUserId: st.trustUserId,
          maxHops: 1,
          // The backlog queue on the far side: bounded in age, and gone an hour after the path is.
          messageTtlMs: probeQueueArguments['x-message-ttl'],
          expiresMs: 3600000,
        },
        keepBacklog: false,
      }),
      owner,
    });
    exchange(probeNames.exchange(from, me), owner);
    queue(probeNames.federationQueue(from), owner);
    // The binding is made by the probe engine over AMQP (ledger names cannot carry a binding's NULs).
    put({
      kind: 'policy',
      name: probeNames.federationPolicy(from),
      value: encodePolicy({
        pattern: exactNamePattern(probeNames.exchange(from, me)),
        definition: { 'federation-upstream': probeNames.upstream(from) },
        priority: 0,
        applyTo: 'exchanges',
      }),
      owner,
    });
  }

  const destinations = new Map<string, ProbeCompileInput['shovels'][number]>();
  for (const s of input.shovels) {
    if (s.paused) continue;
    if (s.destinationClusterId === me)
      queue(
        probeNames.shovelDestination(s.sourceClusterId),
        pathOwner('shovel', s.sourceClusterId, me),
      );
    if (s.sourceClusterId === me && !destinations.has(s.destinationClusterId))
      destinations.set(s.destinationClusterId, s);
  }
  for (const [to, s] of destinations) {
    const owner = pathOwner('shovel', me, to);
    const uris = input.uris(to);
    if (uris.length === 0) {
      warnings.push(
        `probe path to cluster ${to}: no link endpoints or link credentials yet, not built`,
      );
      continue;
    }
    const st = s.settings;
    queue(probeNames.shovelSource(to), owner);
    put({
      kind: 'shovel',
      name: probeNames.shovel(to),
      value: encodeShovel({
        sourceUris: [localUri(probeVhost)],
        sourceQueue: probeNames.shovelSource(to),
        // The shovel declares both queues: the same arguments, or the declares fail.
        sourceQueueArgs: probeQueueArguments,
        destinationUris: uris,
        destinationQueue: probeNames.shovelDestination(me),
        destinationQueueArgs: probeQueueArguments,
        // The probe travels like the user's messages; it never deletes itself nor adds headers.
        settings: {
          ackMode: st.ackMode,
          prefetchCount: st.prefetchCount,
          reconnectDelaySeconds: st.reconnectDelaySeconds,
        },
      }),
      owner,
    });
  }
  return { objects, warnings };
}
