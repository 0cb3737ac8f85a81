import { createHash } from 'node:crypto';
import type { ReplicationRule } from '../clusters/replication';
import {
  checkVersion,
  federationRequirements,
  policyRequirements,
  unmetText,
  type PolicyApplyTo,
  type VersionRequirement,
} from '../common/broker-versions';
import type { FederationSettings } from '../links/federation-link.entity';
import type { ShovelSettings } from '../links/shovel.entity';
import { managedPrefix, type DesiredObject, type DesiredState } from './broker-state';
import { intersect, toPattern, type Selector } from './selectors';
import { compileProbeObjects, probeVhost } from '../probes/probe-topology';
import { formatQuery, linkTlsQuery, type LinkTlsRunnerFiles } from '../broker/link-tls';

/** A plain snapshot of the registry, as the compiler sees it (no entities, no I/O). */
export interface RegistrySnapshot {
  cluster: {
    id: string;
    siteId: string;
    vhosts: string[];
    replication: ReplicationRule[];
    /** For messages (held-back reasons); the id when absent. */
    name?: string;
    /**
     * The RabbitMQ version the cluster runs, as just observed. Keys it does not know are held
     * back (not compiled, reported); `null` (not known) holds back every version-gated key;
     * absent: no version check (validation-only compiles, e.g. conflict checks).
     */
    brokerVersion?: string | null;
  };
  clusters: Record<
    string,
    {
      id: string;
      siteId: string;
      brokerClusterName: string;
      linkEndpoints: { host: string; port: number }[];
      /**
       * Set for a cluster configured for TLS: links to it use amqps:// (its link endpoints are
       * TLS listeners), verified with the runner's `linkFiles` and the remote's `serverName`.
       */
      tls?: { serverName: string | null; linkFiles: LinkTlsRunnerFiles | null } | null;
    }
  >;
  sites: Record<string, { id: string; loadBalancer: { host: string; port: number } | null }>;
  /** Credentials other clusters use to reach a cluster (its link user). */
  linkCredentials: Record<string, { username: string; password: string }>;
  federationLinks: {
    id: string;
    name: string;
    kind: 'exchange' | 'queue';
    downstreamClusterId: string;
    downstreamVhost: string;
    upstreamClusterId: string;
    upstreamVhost: string;
    targets: string[];
    targetPrefix: string | null;
    /** Set for a link adopted from a hand-made upstream (definitions import). */
    brokerUpstreamName?: string | null;
    settings: FederationSettings;
    paused: boolean;
  }[];
  shovels: {
    id: string;
    name: string;
    sourceClusterId: string;
    sourceVhost: string;
    sourceQueue: string | null;
    sourceExchange: string | null;
    sourceExchangeKey: string | null;
    destinationClusterId: string;
    destinationVhost: string;
    destinationQueue: string | null;
    destinationExchange: string | null;
    destinationExchangeKey: string | null;
    settings: ShovelSettings;
    paused: boolean;
    /** A one-shot shovel the broker removed once done: not compiled until rerun. */
    completedAt?: Date | null;
  }[];
  policies: {
    id: string;
    name: string;
    vhost: string;
    pattern: string;
    applyTo: PolicyApplyTo;
    priority: number;
    definition: Record<string, unknown>;
  }[];
  /** Overflow rules' spill paths, probed like shovels (their shovels are the overflow engine's). */
  overflowShovels?: {
    id: string;
    sourceClusterId: string;
    destinationClusterId: string;
    settings: ShovelSettings;
    paused: boolean;
  }[];
  /** Names of exchanges/queues known to exist per vhost: decides regex overlaps. */
  known: Record<string, { queues: string[]; exchanges: string[] }>;
  /** Bound for federation backlog queues on the upstream side (the guard policy). */
  federationQueueMaxBytes: number;
}

export interface CompileConflict {
  vhost: string;
  key: string;
  sources: string[];
  detail: string;
  applyTo: 'queues' | 'exchanges';
  /** The priority both sources share (a higher one would simply win). */
  priority: number;
  /** What each source sets, in `sources` order. */
  values: unknown[];
  /** Broker pattern of the objects both cover. */
  pattern: string;
}

/** A registry row whose keys the cluster's RabbitMQ version does not know: not compiled. */
export interface HeldBack {
  /** `link:<uuid>` or `policy:<uuid>`. */
  owner: string;
  resource: string;
  clusterId: string;
  version: string | null;
  keys: VersionRequirement[];
  detail: string;
}

export interface CompileResult extends DesiredState {
  conflicts: CompileConflict[];
  heldBack: HeldBack[];
}

export const policyPriorityBase = 100;
const uriQuery = 'heartbeat=10&connection_timeout=10000';
const short = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);

/** The upstream parameter of a link: crossdock's own name, or the adopted upstream's. */
export const upstreamName = (linkName: string, brokerName?: string | null) =>
  brokerName ?? `${managedPrefix}up.${linkName}`;
export const shovelName = (name: string) => `${managedPrefix}sh.${name}`;

/**
 * URIs to reach a cluster from another site: its site's load balancer, else its link endpoints.
 * `amqps://` with peer verification when the cluster is configured for TLS (the files named are
 * those of `runnerId`, the cluster whose nodes run the link), plain `amqp://` otherwise.
 */
export function linkUris(
  s: Pick<RegistrySnapshot, 'clusters' | 'sites' | 'linkCredentials'>,
  clusterId: string,
  vhost: string,
  runnerId?: string,
): string[] {
  const c = s.clusters[clusterId];
  const cred = s.linkCredentials[clusterId];
  if (!c || !cred) return [];
  const lb = s.sites[c.siteId]?.loadBalancer;
  const endpoints = lb ? [lb] : c.linkEndpoints;
  const auth = `${encodeURIComponent(cred.username)}:${encodeURIComponent(cred.password)}`;
  const scheme = c.tls ? 'amqps' : 'amqp';
  const runnerFiles = runnerId ? s.clusters[runnerId]?.tls?.linkFiles : null;
  const query = c.tls ? `${uriQuery}&${formatQuery(linkTlsQuery(c.tls, runnerFiles))}` : uriQuery;
  return endpoints
    .map((e) => `${scheme}://${auth}@${e.host}:${e.port}/${encodeURIComponent(vhost)}?${query}`)
    .sort();
}

interface KeySource {
  id: string;
  applyTo: PolicyApplyTo;
  selector: Selector;
  keys: Record<string, unknown>;
  priority: number;
  /** Federation links contribute upstream names, merged into one upstream or an upstream set. */
  upstream?: string;
}

function federationValue(
  l: RegistrySnapshot['federationLinks'][number],
  uris: string[],
): Record<string, unknown> {
  const st = l.settings;
  const v: Record<string, unknown> = {
    uri: uris,
    'ack-mode': st.ackMode ?? 'on-confirm',
    'prefetch-count': st.prefetchCount ?? 1000,
    'reconnect-delay': st.reconnectDelaySeconds ?? 5,
    'trust-user-id': st.trustUserId ?? false,
    // A config change restarts the link; `never` keeps the WAN backlog queue through it.
    'resource-cleanup-mode': 'never',
  };
  if (l.kind === 'exchange') v['max-hops'] = st.maxHops ?? 1;
  if (st.expiresMs !== undefined) v.expires = st.expiresMs;
  if (st.messageTtlMs !== undefined) v['message-ttl'] = st.messageTtlMs;
  if (st.queueType !== undefined) v['queue-type'] = st.queueType;
  return v;
}

/**
 * registry -> the complete desired broker state of one cluster. Every key that must reach the
 * same object is merged into one policy (the broker applies one policy per object): each
 * non-empty intersection of key sources becomes a policy whose priority grows with the number
 * of sources, so the most specific combination wins, and a quorum queue (which skips a policy
 * with ha-* keys) falls through to the same combination without mirroring one band lower.
 */
export function compileCluster(s: RegistrySnapshot): CompileResult {
  const objects: DesiredObject[] = [];
  const warnings: string[] = [];
  const conflicts: CompileConflict[] = [];
  const heldBack: HeldBack[] = [];
  const me = s.cluster.id;
  /** Whether the cluster's version knows these keys; records the row as held back if not. */
  const supported = (owner: string, resource: string, reqs: VersionRequirement[]): boolean => {
    if (s.cluster.brokerVersion === undefined || reqs.length === 0) return true;
    const version = s.cluster.brokerVersion;
    const verdict = checkVersion(version, reqs);
    const unmet = [...verdict.tooOld, ...verdict.unknown];
    if (unmet.length === 0) return true;
    const cluster = s.cluster.name ?? me;
    heldBack.push({
      owner,
      resource,
      clusterId: me,
      version,
      keys: unmet,
      detail: `${resource} is held back (not applied): ${unmet.map((r) => unmetText(r, cluster, version)).join('; ')}`,
    });
    return false;
  };
  const sources = new Map<string, KeySource[]>();
  const addSource = (vhost: string, src: KeySource) =>
    sources.set(vhost, [...(sources.get(vhost) ?? []), src]);

  const guarded = new Set<string>();
  for (const l of s.federationLinks) {
    if (
      l.downstreamClusterId === me &&
      !l.paused &&
      supported(`link:${l.id}`, `link ${l.name}`, federationRequirements(l.settings))
    ) {
      const uris = linkUris(s, l.upstreamClusterId, l.upstreamVhost, me);
      if (uris.length === 0) {
        warnings.push(
          `link ${l.name}: the upstream cluster has no link endpoints or link credentials yet`,
        );
        continue;
      }
      objects.push({
        kind: 'federation-upstream',
        vhost: l.downstreamVhost,
        name: upstreamName(l.name, l.brokerUpstreamName),
        value: federationValue(l, uris),
        owner: `link:${l.id}`,
      });
      addSource(l.downstreamVhost, {
        id: `link:${l.id}`,
        applyTo: l.kind === 'exchange' ? 'exchanges' : 'queues',
        selector:
          l.targetPrefix !== null
            ? { type: 'prefix', prefix: l.targetPrefix }
            : { type: 'names', names: l.targets },
        keys: {},
        priority: 0,
        upstream: upstreamName(l.name, l.brokerUpstreamName),
      });
    }
    // A paused link's backlog keeps waiting here (resource-cleanup-mode never): guard it too.
    if (l.upstreamClusterId === me && l.kind === 'exchange' && !guarded.has(l.upstreamVhost)) {
      guarded.add(l.upstreamVhost);
      // Guard: the federation backlog lives here, unbounded and unmirrored unless a policy says so.
      addSource(l.upstreamVhost, {
        id: 'guard:federation-queues',
        applyTo: 'queues',
        selector: { type: 'regex', patterns: ['^federation: '] },
        keys: { 'max-length-bytes': s.federationQueueMaxBytes, overflow: 'reject-publish' },
        priority: 0,
      });
    }
  }

  for (const sh of s.shovels) {
    if (sh.paused || sh.completedAt || sh.sourceClusterId !== me) continue;
    const dest = linkUris(s, sh.destinationClusterId, sh.destinationVhost, me);
    if (dest.length === 0) {
      warnings.push(
        `shovel ${sh.name}: the destination cluster has no link endpoints or link credentials yet`,
      );
      continue;
    }
    const st = sh.settings;
    const v: Record<string, unknown> = {
      'src-protocol': 'amqp091',
      'src-uri': [`amqp:///${encodeURIComponent(sh.sourceVhost)}`],
      'dest-protocol': 'amqp091',
      'dest-uri': dest,
      'ack-mode': st.ackMode ?? 'on-confirm',
      'src-prefetch-count': st.prefetchCount ?? 1000,
      'reconnect-delay': st.reconnectDelaySeconds ?? 5,
      'src-delete-after': st.deleteAfter ?? 'never',
      'dest-add-forward-headers': st.addForwardHeaders ?? false,
      'dest-add-timestamp-header': st.addTimestampHeader ?? false,
    };
    if (sh.sourceQueue) v['src-queue'] = sh.sourceQueue;
    if (sh.sourceExchange) {
      v['src-exchange'] = sh.sourceExchange;
      if (sh.sourceExchangeKey !== null) v['src-exchange-key'] = sh.sourceExchangeKey;
    }
    if (sh.destinationQueue) v['dest-queue'] = sh.destinationQueue;
    if (sh.destinationExchange) {
      v['dest-exchange'] = sh.destinationExchange;
      if (sh.destinationExchangeKey !== null) v['dest-exchange-key'] = sh.destinationExchangeKey;
    }
    objects.push({
      kind: 'shovel',
      vhost: sh.sourceVhost,
      name: shovelName(sh.name),
      value: v,
      owner: `shovel:${sh.id}`,
    });
  }

  for (const vhost of s.cluster.vhosts) {
    for (const r of s.cluster.replication) {
      if (r.mode !== 'classic') continue;
      const keys: Record<string, unknown> = { 'ha-mode': r.haMode, 'ha-sync-mode': r.haSyncMode };
      if (r.haParams !== undefined) keys['ha-params'] = r.haParams;
      addSource(vhost, {
        id: `replication:${r.pattern}`,
        applyTo: 'queues',
        selector: { type: 'regex', patterns: [r.pattern] },
        keys,
        priority: 0,
      });
    }
  }
  for (const p of s.policies) {
    if (!s.cluster.vhosts.includes(p.vhost)) {
      warnings.push(`policy ${p.name}: vhost ${p.vhost} is not managed on this cluster`);
      continue;
    }
    if (!supported(`policy:${p.id}`, `policy ${p.name}`, policyRequirements(p.applyTo))) continue;
    addSource(p.vhost, {
      id: `policy:${p.id}`,
      applyTo: p.applyTo,
      selector: { type: 'regex', patterns: [p.pattern] },
      keys: p.definition,
      priority: p.priority,
    });
  }

  for (const [vhost, list] of sources) {
    for (const applyTo of ['queues', 'exchanges'] as const) {
      const srcs = list.filter((x) => (x.applyTo === 'exchanges') === (applyTo === 'exchanges'));
      const known =
        applyTo === 'queues' ? (s.known[vhost]?.queues ?? []) : (s.known[vhost]?.exchanges ?? []);
      emitPolicies(vhost, applyTo, srcs, known, objects, conflicts, warnings);
    }
  }
  const probes = compileProbeObjects({
    clusterId: me,
    federationLinks: s.federationLinks,
    // A completed shovel needs no probe path, like a paused one.
    shovels: [
      ...s.shovels.map((sh) => (sh.completedAt ? { ...sh, paused: true } : sh)),
      ...(s.overflowShovels ?? []),
    ],
    uris: (id) => linkUris(s, id, probeVhost, me),
  });
  objects.push(...probes.objects);
  warnings.push(...probes.warnings);
  // The probe vhost is always in scope, so a cluster that leaves every link sheds its probe objects.
  const vhosts = [...s.cluster.vhosts.filter((v) => v !== probeVhost), probeVhost];
  return { clusterId: me, vhosts, objects, warnings, conflicts, heldBack };
}

const maxCombinations = 256;

function emitPolicies(
  vhost: string,
  applyTo: 'queues' | 'exchanges',
  srcs: KeySource[],
  known: string[],
  out: DesiredObject[],
  conflicts: CompileConflict[],
  warnings: string[],
): void {
  let emitted = 0;
  // `queues` covers every queue type; a per-type source narrows a combination to its type, and
  // two different types never meet on one queue.
  const narrow = (a: PolicyApplyTo, b: PolicyApplyTo): PolicyApplyTo | null =>
    a === b || b === 'queues' ? a : a === 'queues' ? b : null;
  const walk = (start: number, chosen: KeySource[], sel: Selector | null, scope: PolicyApplyTo) => {
    for (let i = start; i < srcs.length; i++) {
      if (emitted >= maxCombinations) return;
      const nextScope = narrow(scope, srcs[i].applyTo);
      if (!nextScope) continue;
      const next = sel ? intersect(sel, srcs[i].selector, known) : srcs[i].selector;
      if (!next) continue;
      const set = [...chosen, srcs[i]];
      emitted += 1;
      const policy = mergeSources(vhost, applyTo, nextScope, set, next, conflicts);
      if (policy) out.push(...policy);
      walk(i + 1, set, next, nextScope);
    }
  };
  walk(0, [], null, applyTo);
  if (emitted >= maxCombinations)
    warnings.push(
      `vhost ${vhost}: more than ${maxCombinations} overlapping ${applyTo} key sources; some combinations are not generated`,
    );
}

function mergeSources(
  vhost: string,
  applyTo: 'queues' | 'exchanges',
  scope: PolicyApplyTo,
  set: KeySource[],
  sel: Selector,
  conflicts: CompileConflict[],
): DesiredObject[] | null {
  const definition: Record<string, unknown> = {};
  const from: Record<string, KeySource> = {};
  for (const src of [...set].sort((a, b) => b.priority - a.priority)) {
    for (const [k, v] of Object.entries(src.keys)) {
      const prior = from[k];
      if (!prior) {
        definition[k] = v;
        from[k] = src;
      } else if (
        JSON.stringify(definition[k]) !== JSON.stringify(v) &&
        prior.priority === src.priority
      ) {
        conflicts.push({
          vhost,
          key: k,
          sources: [prior.id, src.id],
          detail: `${prior.id} sets ${k}=${JSON.stringify(definition[k])}, ${src.id} sets ${JSON.stringify(v)} on the same ${applyTo}`,
          applyTo,
          priority: src.priority,
          values: [definition[k], v],
          pattern: toPattern(sel),
        });
      }
    }
  }
  const upstreams = set
    .filter((x) => x.upstream)
    .map((x) => x.upstream as string)
    .sort();
  const extra: DesiredObject[] = [];
  const ids = set.map((x) => x.id).sort();
  const owner =
    ids.find((x) => x.startsWith('link:')) ??
    ids.find((x) => x.startsWith('policy:')) ??
    `cluster:${vhost}`;
  if (upstreams.length === 1) definition['federation-upstream'] = upstreams[0];
  if (upstreams.length > 1) {
    // Several links into one object: an explicitly named set, never the implicit `all`.
    const setName = `${managedPrefix}set.${short(upstreams.join(','))}`;
    definition['federation-upstream-set'] = setName;
    extra.push({
      kind: 'federation-upstream-set',
      vhost,
      name: setName,
      value: upstreams.map((u) => ({ upstream: u })),
      owner,
    });
  }
  if (Object.keys(definition).length === 0) return extra;
  const name = `${managedPrefix}p.${applyTo === 'queues' ? 'q' : 'x'}.${short(ids.join(','))}`;
  extra.push({
    kind: 'policy',
    vhost,
    name,
    value: {
      pattern: toPattern(sel),
      definition,
      priority: policyPriorityBase + set.length,
      'apply-to': scope,
    },
    owner,
  });
  return extra;
}
