import { objectId } from '../broker-topology/broker-paths';
import type { ObservedObject } from '../reconciliation/broker-state';
import { isRec, key, type ImportContext } from './import-context';
import type { PendingFederation } from './import-policies';
import { resourceName } from './import-patterns';
import type { ImportItem } from './import-types';

/**
 * Hands over what adopted federation policies used: a policy to its first link; an upstream
 * (and its set) only when every policy using it is adopted, or it would vanish under the rest.
 */
export function handOver(
  ctx: ImportContext,
  pending: readonly PendingFederation[],
  policies: readonly ObservedObject[],
  usersOf: ReadonlyMap<string, string[]>,
  upstreamsOfPolicy: ReadonlyMap<string, string[]>,
): void {
  const { resources, taken, find, verdict, skip } = ctx;
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
}
