import type { FederationSettings } from '../links/federation-link.entity';
import type { ShovelSettings } from '../links/shovel.entity';
import { patternProblem } from '../common/dto/broker-pattern';
import { linearRegex } from '../common/linear-regex';
import { checkDefinition } from '../policies/policy-definition';
import {
  managedPrefix,
  type ObjectKey,
  type ObjectKind,
  type ObservedObject,
} from '../reconciliation/broker-state';
import { objectId } from '../broker-topology/broker-paths';
import { decodeUpstream } from '../broker-topology/federation-upstream.codec';
import { decodePolicy, federationPolicyKeys } from '../broker-topology/policy.codec';
import { decodeShovel, linkShovelKeys } from '../broker-topology/shovel.codec';
import { decodeUpstreamSet } from '../broker-topology/upstream-set.codec';
import {
  clusterOfUris,
  patternTargets,
  resourceName,
  type ClusterAddresses,
} from './import-patterns';

/**
 * Pure: what a cluster's own upstreams, upstream sets, policies and shovels become in crossdock
 * (the definitions import). Every broker object gets a verdict (adopt or skip, with the reason);
 * dangerous things come back as warnings. Values may carry credentials: nothing here copies a
 * URI into a reason, a warning or a resource.
 */

export interface ImportInput {
  cluster: ClusterAddresses;
  /** Every registered cluster (this one included), with its AMQP addresses. */
  clusters: readonly ClusterAddresses[];
  vhosts: readonly string[];
  observed: readonly ObservedObject[];
  /** objectIds of the ownership ledger: these are crossdock's already. */
  owned: ReadonlySet<string>;
  /** Names already used by policies, federation links and shovels in the registry. */
  takenNames: { policies: string[]; links: string[]; shovels: string[] };
  /** crossdock's links into this cluster and shovels out of it: an import must not duplicate them. */
  existing?: {
    links: {
      name: string;
      kind: 'exchange' | 'queue';
      downstreamVhost: string;
      targets: string[];
      targetPrefix: string | null;
    }[];
    shovels: { name: string; sourceVhost: string; sourceQueue: string | null }[];
  };
}

/** An adoptable object that would duplicate an existing crossdock resource: the import is refused (409). */
export interface ImportConflict extends ObjectKey {
  resource: { type: ImportResourceType; name: string };
  detail: string;
}

export type ImportResourceType = 'policy' | 'federation-link' | 'shovel';

export interface ImportItem extends ObjectKey {
  action: 'adopt' | 'skip';
  reason: string;
  /** The crossdock resources this object becomes (adopt only). */
  resources?: { type: ImportResourceType; name: string }[];
}

export interface ImportWarning extends ObjectKey {
  detail: string;
}

export interface PolicyImport {
  type: 'policy';
  name: string;
  vhost: string;
  pattern: string;
  applyTo: 'queues' | 'exchanges';
  priority: number;
  definition: Record<string, unknown>;
  /** The broker object this resource comes from. */
  source: ObjectKey;
  /** Broker objects handed over to this resource (the reconciler replaces them). */
  originals: ObjectKey[];
}

export interface LinkImport {
  type: 'federation-link';
  name: string;
  kind: 'exchange' | 'queue';
  downstreamVhost: string;
  upstreamClusterId: string;
  upstreamVhost: string;
  targets?: string[];
  targetPrefix?: string;
  /** The handed-over upstream keeps its name: the reconciler updates it in place. */
  brokerUpstreamName?: string;
  /** The upstream's `exchange` (exchange links) or `queue` (queue links) key, when it has one. */
  upstreamObject?: string;
  settings: FederationSettings;
  source: ObjectKey;
  originals: ObjectKey[];
}

export interface ShovelImport {
  type: 'shovel';
  name: string;
  sourceVhost: string;
  sourceQueue?: string;
  sourceExchange?: string;
  sourceExchangeKey?: string;
  destinationClusterId: string;
  destinationVhost: string;
  destinationQueue?: string;
  destinationExchange?: string;
  destinationExchangeKey?: string;
  settings: ShovelSettings;
  source: ObjectKey;
  originals: ObjectKey[];
}

export type ResourceImport = PolicyImport | LinkImport | ShovelImport;

export interface ImportPlan {
  items: ImportItem[];
  warnings: ImportWarning[];
  conflicts: ImportConflict[];
  resources: ResourceImport[];
}

const overlaps = (
  a: { targets?: string[] | null; targetPrefix?: string | null },
  b: { targets?: string[] | null; targetPrefix?: string | null },
) => {
  const an = a.targets ?? [];
  const bn = b.targets ?? [];
  if (an.some((n) => bn.includes(n))) return true;
  if (a.targetPrefix && bn.some((n) => n.startsWith(a.targetPrefix as string))) return true;
  if (b.targetPrefix && an.some((n) => n.startsWith(b.targetPrefix as string))) return true;
  return (
    !!a.targetPrefix &&
    !!b.targetPrefix &&
    (a.targetPrefix.startsWith(b.targetPrefix) || b.targetPrefix.startsWith(a.targetPrefix))
  );
};

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const key = (o: ObjectKey): ObjectKey => ({ kind: o.kind, vhost: o.vhost, name: o.name });
const federationKeys: readonly string[] = federationPolicyKeys;
export function planImport(input: ImportInput): ImportPlan {
  const vhosts = new Set(input.vhosts);
  const objects = input.observed.filter((o) => vhosts.has(o.vhost));
  const items: ImportItem[] = [];
  const warnings: ImportWarning[] = [];
  const resources: ResourceImport[] = [];
  const taken = {
    policies: new Set(input.takenNames.policies),
    links: new Set(input.takenNames.links),
    shovels: new Set(input.takenNames.shovels),
  };
  const managed = (o: ObjectKey) =>
    input.owned.has(objectId(o)) || o.name.startsWith(managedPrefix);
  const find = (kind: ObjectKind, vhost: string, name: string) =>
    objects.find((o) => o.kind === kind && o.vhost === vhost && o.name === name);
  const warn = (o: ObjectKey, detail: string) => warnings.push({ ...key(o), detail });
  const verdicts = new Map<string, ImportItem>();
  const verdict = (o: ObjectKey, item: Omit<ImportItem, keyof ObjectKey>) => {
    if (!verdicts.has(objectId(o))) verdicts.set(objectId(o), { ...key(o), ...item });
  };
  const skip = (o: ObjectKey, reason: string) => verdict(o, { action: 'skip', reason });

  const policies = objects.filter((o) => o.kind === 'policy' && !managed(o));
  const upstreams = objects.filter((o) => o.kind === 'federation-upstream' && !managed(o));
  for (const o of objects)
    if (
      managed(o) &&
      ['policy', 'federation-upstream', 'federation-upstream-set', 'shovel'].includes(o.kind)
    )
      skip(o, 'already managed by crossdock');

  for (const u of upstreams) {
    const v = isRec(u.value) ? u.value : {};
    const where = clusterOfUris(v.uri, input.clusters, input.cluster);
    if (where.hasCredentials)
      warn(
        u,
        "the upstream URI carries credentials (not shown here); crossdock replaces them with the upstream cluster's least-privilege link user",
      );
  }

  // Which policies reference each upstream (directly or through a set): an upstream is handed
  // over only when every policy using it is adopted, or it would vanish under the rest.
  const usersOf = new Map<string, string[]>();
  const upstreamsOfPolicy = new Map<string, string[]>();
  for (const p of policies) {
    const d = decodePolicy(p.value).definition;
    let names: string[] = [];
    if (typeof d['federation-upstream'] === 'string') names = [d['federation-upstream']];
    const set = d['federation-upstream-set'];
    if (typeof set === 'string' && set !== 'all') {
      const s = find('federation-upstream-set', p.vhost, set);
      if (s && Array.isArray(s.value)) names = decodeUpstreamSet(s.value);
    }
    upstreamsOfPolicy.set(objectId(p), names);
    for (const n of names) {
      const id = objectId({ kind: 'federation-upstream', vhost: p.vhost, name: n });
      usersOf.set(id, [...(usersOf.get(id) ?? []), objectId(p)]);
    }
  }

  interface Pending {
    policy: ObservedObject;
    links: LinkImport[];
    companion?: PolicyImport;
  }
  const pending: Pending[] = [];

  for (const p of policies) {
    const { definition: d, pattern, applyTo: applyToRaw, priority } = decodePolicy(p.value);
    const fed = federationKeys.filter((k) => k in d);
    const rest = Object.fromEntries(Object.entries(d).filter(([k]) => !federationKeys.includes(k)));
    const problem = patternProblem(pattern);
    if (problem) {
      skip(p, `${problem} (crossdock accepts only patterns PCRE, JavaScript and RE2 read alike)`);
      continue;
    }
    if (applyToRaw === 'all')
      warn(
        p,
        'apply-to all: the policy competes for queues and exchanges at once (only one policy applies to an object, trap 3.1/3.13); crossdock never generates it',
      );
    if (d['federation-upstream-set'] === 'all')
      warn(
        p,
        'federation-upstream-set all: federates from every upstream of the vhost, including hand-made ones and the ones crossdock creates for adopted links (trap 3.11); name the upstreams instead',
      );
    if (Object.keys(d).some((k) => k.startsWith('ha-'))) {
      const quorum = quorumQueuesMatching(objects, p.vhost, pattern, applyToRaw);
      if (quorum.length)
        warn(
          p,
          `ha-* keys on a pattern that matches quorum queue(s) ${quorum
            .slice(0, 5)
            .map((q) => JSON.stringify(q))
            .join(
              ', ',
            )}: quorum queues skip such a policy entirely (none of its keys reach them), and ha-mode is removed in RabbitMQ 4.0`,
        );
    }
    if (fed.length === 0) {
      let applyTo: 'queues' | 'exchanges';
      if (applyToRaw === 'queues' || applyToRaw === 'exchanges') applyTo = applyToRaw;
      else {
        const q = checkDefinition('queues', d).errors.length === 0;
        const x = checkDefinition('exchanges', d).errors.length === 0;
        if (q === x) {
          skip(
            p,
            'apply-to all with keys that do not all belong to queues or all to exchanges: split it by hand',
          );
          continue;
        }
        applyTo = q ? 'queues' : 'exchanges';
        warn(p, `apply-to all narrowed to ${applyTo} (its keys apply only there)`);
      }
      const check = checkDefinition(applyTo, d);
      if (check.errors.length) {
        skip(
          p,
          `definition not adoptable: ${check.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
        );
        continue;
      }
      for (const w of check.warnings) warn(p, w);
      const res: PolicyImport = {
        type: 'policy',
        name: resourceName(p.name, taken.policies),
        vhost: p.vhost,
        pattern,
        applyTo,
        priority: Math.max(0, Math.min(100, Math.round(priority))),
        definition: d,
        source: key(p),
        originals: [key(p)],
      };
      if (res.priority !== priority)
        warn(
          p,
          `priority ${priority} becomes ${res.priority} (crossdock orders its policies 0..100)`,
        );
      resources.push(res);
      verdict(p, {
        action: 'adopt',
        reason: `becomes cluster policy ${JSON.stringify(res.name)}`,
        resources: [{ type: 'policy', name: res.name }],
      });
      continue;
    }
    // Federation policy: one link per upstream it uses.
    if (fed.includes('federation-upstream-pattern')) {
      skip(p, 'federation-upstream-pattern selects upstreams by regex: name them instead');
      continue;
    }
    if (d['federation-upstream-set'] === 'all') {
      skip(p, 'federation-upstream-set all is the implicit set of every upstream: not adoptable');
      continue;
    }
    if (applyToRaw !== 'queues' && applyToRaw !== 'exchanges') {
      skip(
        p,
        'a federation policy with apply-to all: say whether it federates exchanges or queues',
      );
      continue;
    }
    const kind = applyToRaw === 'exchanges' ? 'exchange' : 'queue';
    const targets = patternTargets(pattern);
    if (targets.type === 'none') {
      skip(p, targets.reason);
      continue;
    }
    const names = upstreamsOfPolicy.get(objectId(p)) ?? [];
    if (names.length === 0) {
      const setName = d['federation-upstream-set'];
      skip(
        p,
        typeof setName !== 'string'
          ? 'it names no upstream'
          : find('federation-upstream-set', p.vhost, setName)
            ? `its upstream set ${JSON.stringify(setName)} is empty`
            : `its upstream set ${JSON.stringify(setName)} does not exist`,
      );
      continue;
    }
    const links: LinkImport[] = [];
    let why: string | undefined;
    for (const n of names) {
      const u = find('federation-upstream', p.vhost, n);
      if (!u || managed(u)) {
        why = u
          ? `upstream ${JSON.stringify(n)} is crossdock's own`
          : `upstream ${JSON.stringify(n)} does not exist`;
        break;
      }
      const uv = isRec(u.value) ? u.value : {};
      const where = clusterOfUris(uv.uri, input.clusters, input.cluster);
      if (!where.ok) {
        why = `upstream ${JSON.stringify(n)}: ${where.reason}`;
        break;
      }
      if (where.cluster.id === input.cluster.id || where.cluster.siteId === input.cluster.siteId) {
        why = `upstream ${JSON.stringify(n)} reaches cluster ${where.cluster.name} in the same site: crossdock links join different sites`;
        break;
      }
      if (!where.cluster.vhosts.includes(where.vhost)) {
        why = `upstream ${JSON.stringify(n)} reaches vhost ${JSON.stringify(where.vhost)}, which crossdock does not manage on cluster ${where.cluster.name}`;
        break;
      }
      const st = decodeUpstream(uv, kind);
      if (!st.ok) {
        why = `upstream ${JSON.stringify(n)}: ${st.reason}`;
        break;
      }
      if (kind === 'exchange' && uv['resource-cleanup-mode'] !== 'never')
        warn(
          u,
          "handing this upstream over changes it (crossdock's URIs and link user, resource-cleanup-mode never), which restarts its link, and its resource-cleanup-mode is not never yet: the stopping link deletes its upstream queue, so messages waiting on the WAN or published at that instant are lost; set resource-cleanup-mode never on it by hand first, at a quiet moment (that change restarts it once too)",
        );
      links.push({
        type: 'federation-link',
        name: '',
        kind,
        downstreamVhost: p.vhost,
        upstreamClusterId: where.cluster.id,
        upstreamVhost: where.vhost,
        ...(targets.type === 'names'
          ? { targets: targets.names }
          : { targetPrefix: targets.prefix }),
        ...(st.model.upstreamObject !== undefined
          ? { upstreamObject: st.model.upstreamObject }
          : {}),
        settings: st.model.settings,
        source: key(p),
        originals: [],
      });
      links[links.length - 1].name = names.length === 1 ? n : `${p.name}-${n}`;
    }
    if (why) {
      skip(p, why);
      continue;
    }
    let companion: PolicyImport | undefined;
    if (Object.keys(rest).length) {
      const check = checkDefinition(applyToRaw, rest);
      if (check.errors.length) {
        skip(
          p,
          `its other keys are not adoptable: ${check.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
        );
        continue;
      }
      companion = {
        type: 'policy',
        name: '',
        vhost: p.vhost,
        pattern,
        applyTo: applyToRaw,
        priority: Math.max(0, Math.min(100, Math.round(priority))),
        definition: rest,
        source: key(p),
        originals: [],
      };
    }
    pending.push({ policy: p, links, companion });
  }

  // Hand over: a policy to its first link; an upstream (and set) only when every policy using it is adopted.
  const adopted = new Set(pending.map((x) => objectId(x.policy)));
  for (const x of pending) {
    const p = x.policy;
    const names = upstreamsOfPolicy.get(objectId(p)) ?? [];
    x.links.forEach((l, i) => {
      l.name = resourceName(l.name, taken.links);
      if (i === 0) l.originals.push(key(p));
      const uid = objectId({ kind: 'federation-upstream', vhost: p.vhost, name: names[i] });
      const users = usersOf.get(uid) ?? [];
      const u = find('federation-upstream', p.vhost, names[i]);
      if (!u) return;
      if (users.every((id) => adopted.has(id)) && users[0] === objectId(p)) {
        l.originals.push(key(u));
        l.brokerUpstreamName = u.name;
        verdict(u, {
          action: 'adopt',
          reason: `becomes the upstream of federation link ${JSON.stringify(l.name)} (kept under its name, updated in place)`,
          resources: [{ type: 'federation-link', name: l.name }],
        });
      } else if (!users.every((id) => adopted.has(id))) {
        skip(u, 'still used by a policy that is not adopted: left as it is');
      }
    });
    const setName =
      isRec(p.value) && isRec(p.value.definition)
        ? p.value.definition['federation-upstream-set']
        : undefined;
    if (typeof setName === 'string') {
      const s = find('federation-upstream-set', p.vhost, setName);
      const setUsers = policies.filter(
        (q) =>
          isRec(q.value) &&
          isRec(q.value.definition) &&
          q.value.definition['federation-upstream-set'] === setName,
      );
      if (
        s &&
        setUsers.every((q) => adopted.has(objectId(q))) &&
        objectId(setUsers[0]) === objectId(p)
      ) {
        x.links[0].originals.push(key(s));
        verdict(s, {
          action: 'adopt',
          reason: 'replaced by the links of its policy (crossdock names its own upstream sets)',
          resources: x.links.map((l) => ({ type: 'federation-link' as const, name: l.name })),
        });
      }
    }
    resources.push(...x.links);
    const out: ImportItem['resources'] = x.links.map((l) => ({
      type: 'federation-link',
      name: l.name,
    }));
    if (x.companion) {
      x.companion.name = resourceName(p.name, taken.policies);
      resources.push(x.companion);
      out.push({ type: 'policy', name: x.companion.name });
    }
    verdict(p, {
      action: 'adopt',
      reason: `becomes ${x.links.length} federation link(s)${x.companion ? ' and a policy with its other keys' : ''}`,
      resources: out,
    });
  }

  for (const s of objects.filter((o) => o.kind === 'shovel' && !managed(o))) {
    const r = shovelImport(s, input, taken.shovels);
    if ('reason' in r) skip(s, r.reason);
    else {
      resources.push(r);
      verdict(s, {
        action: 'adopt',
        reason: `becomes shovel ${JSON.stringify(r.name)}`,
        resources: [{ type: 'shovel', name: r.name }],
      });
    }
    const v = isRec(s.value) ? s.value : {};
    for (const end of ['src-uri', 'dest-uri'] as const) {
      const w = clusterOfUris(v[end], input.clusters, input.cluster);
      if (w.hasCredentials)
        warn(
          s,
          `${end} carries credentials (not shown here); crossdock's shovel uses the destination cluster's least-privilege link user instead`,
        );
    }
  }
  for (const o of objects) {
    if (o.kind === 'federation-upstream') skip(o, 'no adoptable policy uses it: left as it is');
    if (o.kind === 'federation-upstream-set')
      skip(o, 'not handed over (a policy using it is not adopted): left as it is');
  }
  const order = ['federation-upstream', 'federation-upstream-set', 'policy', 'shovel'];
  for (const o of objects) {
    const it = verdicts.get(objectId(o));
    if (it) items.push(it);
  }
  items.sort(
    (a, b) =>
      order.indexOf(a.kind) - order.indexOf(b.kind) ||
      a.vhost.localeCompare(b.vhost) ||
      a.name.localeCompare(b.name),
  );
  const conflicts: ImportConflict[] = [];
  for (const r of resources) {
    const origin = r.source;
    if (r.type === 'federation-link') {
      for (const l of input.existing?.links ?? []) {
        if (l.kind === r.kind && l.downstreamVhost === r.downstreamVhost && overlaps(l, r))
          conflicts.push({
            ...key(origin),
            resource: { type: r.type, name: r.name },
            detail: `crossdock federation link ${JSON.stringify(l.name)} already federates some of the same ${r.kind}s into vhost ${JSON.stringify(r.downstreamVhost)}: adopting would federate them twice`,
          });
      }
    }
    if (r.type === 'shovel') {
      for (const x of input.existing?.shovels ?? []) {
        if (x.sourceVhost === r.sourceVhost && !!r.sourceQueue && x.sourceQueue === r.sourceQueue)
          conflicts.push({
            ...key(origin),
            resource: { type: r.type, name: r.name },
            detail: `crossdock shovel ${JSON.stringify(x.name)} already moves queue ${JSON.stringify(r.sourceQueue)} of vhost ${JSON.stringify(r.sourceVhost)}`,
          });
      }
    }
  }
  return { items, warnings, conflicts, resources };
}

function quorumQueuesMatching(
  objects: readonly ObservedObject[],
  vhost: string,
  pattern: string,
  applyTo: string,
): string[] {
  if (applyTo === 'exchanges') return [];
  const re = linearRegex(pattern);
  if (!re) return [];
  return objects
    .filter(
      (o) =>
        o.kind === 'queue' &&
        o.vhost === vhost &&
        isRec(o.value) &&
        isRec(o.value.arguments) &&
        o.value.arguments['x-queue-type'] === 'quorum' &&
        re.test(o.name),
    )
    .map((o) => o.name)
    .sort();
}

function shovelImport(
  s: ObservedObject,
  input: ImportInput,
  taken: Set<string>,
): ShovelImport | { reason: string } {
  const v = isRec(s.value) ? s.value : {};
  const decoded = decodeShovel(v, linkShovelKeys);
  if (!decoded.ok && decoded.stage === 'keys') return { reason: decoded.reason };
  const src = clusterOfUris(v['src-uri'], [input.cluster], input.cluster);
  if (!src.ok)
    return { reason: `source: ${src.reason} (crossdock runs a shovel on its source cluster)` };
  if (!input.cluster.vhosts.includes(src.vhost))
    return { reason: `the source vhost ${JSON.stringify(src.vhost)} is not managed by crossdock` };
  if (src.vhost !== s.vhost)
    return {
      reason:
        'the shovel is defined in another vhost than its source: crossdock defines it in the source vhost',
    };
  const dst = clusterOfUris(v['dest-uri'], input.clusters, input.cluster);
  if (!dst.ok) return { reason: `destination: ${dst.reason}` };
  if (dst.cluster.siteId === input.cluster.siteId)
    return {
      reason: `the destination cluster ${dst.cluster.name} is in the same site: crossdock links join different sites`,
    };
  if (!dst.cluster.vhosts.includes(dst.vhost))
    return {
      reason: `the destination vhost ${JSON.stringify(dst.vhost)} is not managed on cluster ${dst.cluster.name}`,
    };
  if (!decoded.ok) return { reason: decoded.reason };
  const m = decoded.model;
  return {
    type: 'shovel',
    name: resourceName(s.name, taken),
    sourceVhost: src.vhost,
    ...(m.sourceQueue ? { sourceQueue: m.sourceQueue } : {}),
    ...(m.sourceExchange ? { sourceExchange: m.sourceExchange } : {}),
    ...(m.sourceExchangeKey !== undefined ? { sourceExchangeKey: m.sourceExchangeKey } : {}),
    destinationClusterId: dst.cluster.id,
    destinationVhost: dst.vhost,
    ...(m.destinationQueue ? { destinationQueue: m.destinationQueue } : {}),
    ...(m.destinationExchange ? { destinationExchange: m.destinationExchange } : {}),
    ...(m.destinationExchangeKey !== undefined
      ? { destinationExchangeKey: m.destinationExchangeKey }
      : {}),
    settings: m.settings,
    source: key(s),
    originals: [key(s)],
  };
}
