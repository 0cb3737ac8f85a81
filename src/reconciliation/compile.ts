import type { ReplicationRule } from '../clusters/replication';
import {
  checkVersion,
  federationRequirements,
  policyRequirements,
  unmetText,
  type PolicyApplyTo,
  type VersionRequirement,
} from '../broker-topology/broker-versions';
import type { FederationSettings } from '../links/federation-link.entity';
import type { ShovelSettings } from '../links/shovel.entity';
import type { DesiredObject, DesiredState } from './broker-state';
import { emitPolicies, type CompileConflict, type KeySource } from './policy-merge';

export { policyPriorityBase, type CompileConflict } from './policy-merge';
import { compileProbeObjects, probeVhost } from '../probes/probe-topology';
import { encodeUpstream } from '../broker-topology/federation-upstream.codec';
import { linkUris, localUri } from '../broker-topology/link-uri';
import type { LinkTlsRunnerFiles } from '../broker/link-tls';
import { upstreamName, shovelName } from '../broker-topology/names';
import { encodeShovel } from '../broker-topology/shovel.codec';
import { compileDeclared, mergeDeclared, type DeclaredObject } from './compile-topology';

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
    /** The upstream exchange or queue when not named like the downstream one. */
    upstreamObject?: string | null;
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
  /** Exchanges, queues and bindings declared through crossdock on this cluster. */
  declared?: DeclaredObject[];
  /** Names of exchanges/queues known to exist per vhost: decides regex overlaps. */
  known: Record<string, { queues: string[]; exchanges: string[] }>;
  /** Bound for federation backlog queues on the upstream side (the guard policy). */
  federationQueueMaxBytes: number;
}

/** A registry row whose keys the cluster's RabbitMQ version does not know: not compiled. */
export interface HeldBack {
  /** `link:<uuid>`, `policy:<uuid>` or `queue:<uuid>`. */
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
        value: encodeUpstream({
          uris,
          kind: l.kind,
          settings: l.settings,
          keepBacklog: true,
          ...(l.upstreamObject ? { upstreamObject: l.upstreamObject } : {}),
        }),
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
    const v = encodeShovel({
      sourceUris: [localUri(sh.sourceVhost)],
      sourceQueue: sh.sourceQueue ?? undefined,
      sourceExchange: sh.sourceExchange ?? undefined,
      sourceExchangeKey: sh.sourceExchangeKey ?? undefined,
      destinationUris: dest,
      destinationQueue: sh.destinationQueue ?? undefined,
      destinationExchange: sh.destinationExchange ?? undefined,
      destinationExchangeKey: sh.destinationExchangeKey ?? undefined,
      settings: sh.settings,
    });
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
  const declared = compileDeclared(s.declared ?? [], s.cluster.vhosts, supported, warnings);
  const merged = mergeDeclared(objects, declared);
  // The probe vhost is always in scope, so a cluster that leaves every link sheds its probe objects.
  const vhosts = [...s.cluster.vhosts.filter((v) => v !== probeVhost), probeVhost];
  return { clusterId: me, vhosts, objects: merged, warnings, conflicts, heldBack };
}
