import { objectId } from '../broker-topology/broker-paths';
import { decodePolicy } from '../broker-topology/policy.codec';
import { decodeUpstreamSet } from '../broker-topology/upstream-set.codec';
import { importContext, isRec } from './import-context';
import { importConflicts } from './import-conflicts';
import { handOver } from './import-handover';
import { clusterOfUris } from './import-patterns';
import { planPolicy, type PendingFederation } from './import-policies';
import { planShovels } from './import-shovels';
import { planTopology } from './import-topology';
import type { ImportInput, ImportItem, ImportPlan } from './import-types';

export type * from './import-types';

/**
 * Pure: what a cluster's own upstreams, upstream sets, policies and shovels become in crossdock
 * (the definitions import). Every broker object gets a verdict (adopt or skip, with the reason);
 * dangerous things come back as warnings. Values may carry credentials: nothing here copies a
 * URI into a reason, a warning or a resource.
 */
export function planImport(input: ImportInput): ImportPlan {
  const ctx = importContext(input);
  const { objects, warnings, resources, verdicts, managed, find, warn, skip } = ctx;
  const items: ImportItem[] = [];

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

  const pending: PendingFederation[] = [];
  for (const p of policies) {
    const adoptable = planPolicy(ctx, p, upstreamsOfPolicy);
    if (adoptable) pending.push(adoptable);
  }
  handOver(ctx, pending, policies, usersOf, upstreamsOfPolicy);
  planShovels(ctx);
  const topology = input.topology ? planTopology(ctx, input.topology.declared) : [];
  for (const o of objects) {
    if (o.kind === 'federation-upstream') skip(o, 'no adoptable policy uses it: left as it is');
    if (o.kind === 'federation-upstream-set')
      skip(o, 'not handed over (a policy using it is not adopted): left as it is');
  }
  const order = [
    'federation-upstream',
    'federation-upstream-set',
    'policy',
    'shovel',
    'exchange',
    'queue',
    'binding',
  ];
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
  return {
    items,
    warnings,
    conflicts: importConflicts(input, resources),
    resources,
    topology,
  };
}
