import { patternProblem } from '../common/dto/broker-pattern';
import { linearRegex } from '../common/linear-regex';
import { checkDefinition } from '../policies/policy-definition';
import { objectId } from '../broker-topology/broker-paths';
import { decodeUpstream } from '../broker-topology/federation-upstream.codec';
import { decodePolicy, federationPolicyKeys } from '../broker-topology/policy.codec';
import type { ObservedObject } from '../reconciliation/broker-state';
import { isRec, key, type ImportContext } from './import-context';
import { clusterOfUris, patternTargets, resourceName } from './import-patterns';
import type { LinkImport, PolicyImport } from './import-types';

const federationKeys: readonly string[] = federationPolicyKeys;

/** A federation policy that can be adopted: its links, and a policy with its other keys. */
export interface PendingFederation {
  policy: ObservedObject;
  links: LinkImport[];
  companion?: PolicyImport;
}

/**
 * One policy's verdict: a plain policy becomes a crossdock policy (adopted here); a federation
 * policy becomes one link per upstream it uses, handed over later (`handOver`) once it is known
 * which upstreams every policy using them gives up. Anything not adoptable is skipped with why.
 */
export function planPolicy(
  ctx: ImportContext,
  p: ObservedObject,
  upstreamsOfPolicy: ReadonlyMap<string, string[]>,
): PendingFederation | undefined {
  const { input, objects, resources, taken, managed, find, warn, verdict, skip } = ctx;
  const { definition: d, pattern, applyTo: applyToRaw, priority } = decodePolicy(p.value);
  const fed = federationKeys.filter((k) => k in d);
  const rest = Object.fromEntries(Object.entries(d).filter(([k]) => !federationKeys.includes(k)));
  const problem = patternProblem(pattern);
  if (problem) {
    skip(p, `${problem} (crossdock accepts only patterns PCRE, JavaScript and RE2 read alike)`);
    return undefined;
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
        return undefined;
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
      return undefined;
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
    return undefined;
  }
  // Federation policy: one link per upstream it uses.
  if (fed.includes('federation-upstream-pattern')) {
    skip(p, 'federation-upstream-pattern selects upstreams by regex: name them instead');
    return undefined;
  }
  if (d['federation-upstream-set'] === 'all') {
    skip(p, 'federation-upstream-set all is the implicit set of every upstream: not adoptable');
    return undefined;
  }
  if (applyToRaw !== 'queues' && applyToRaw !== 'exchanges') {
    skip(p, 'a federation policy with apply-to all: say whether it federates exchanges or queues');
    return undefined;
  }
  const kind = applyToRaw === 'exchanges' ? 'exchange' : 'queue';
  const targets = patternTargets(pattern);
  if (targets.type === 'none') {
    skip(p, targets.reason);
    return undefined;
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
    return undefined;
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
      ...(targets.type === 'names' ? { targets: targets.names } : { targetPrefix: targets.prefix }),
      ...(st.model.upstreamObject !== undefined ? { upstreamObject: st.model.upstreamObject } : {}),
      settings: st.model.settings,
      source: key(p),
      originals: [],
    });
    links[links.length - 1].name = names.length === 1 ? n : `${p.name}-${n}`;
  }
  if (why) {
    skip(p, why);
    return undefined;
  }
  let companion: PolicyImport | undefined;
  if (Object.keys(rest).length) {
    const check = checkDefinition(applyToRaw, rest);
    if (check.errors.length) {
      skip(
        p,
        `its other keys are not adoptable: ${check.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
      );
      return undefined;
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
  return { policy: p, links, companion };
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
