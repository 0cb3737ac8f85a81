import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { ObservedState } from './broker-state';
import type { RegistrySnapshot } from './compile';
import { loadObservedNames, storeObservedNames } from './conflict-check.repository';

export type KnownNames = RegistrySnapshot['known'];

/** Pure: exchange and queue names per vhost, sorted (what decides regex overlaps). */
export function knownNames(observed: ObservedState): KnownNames {
  const known: KnownNames = {};
  for (const o of observed.objects) {
    if (o.kind !== 'queue' && o.kind !== 'exchange') continue;
    const k = (known[o.vhost] ??= { queues: [], exchanges: [] });
    (o.kind === 'queue' ? k.queues : k.exchanges).push(o.name);
  }
  for (const k of Object.values(known)) {
    k.queues.sort();
    k.exchanges.sort();
  }
  return known;
}

const digest = (known: KnownNames) =>
  createHash('sha256')
    .update(JSON.stringify(Object.entries(known).sort(([a], [b]) => (a < b ? -1 : 1))))
    .digest('hex');

/**
 * Keeps the names a pass observed for registry validation; written only when they changed, so
 * a steady cluster costs one small comparison per pass.
 */
export async function storeKnownNames(
  ds: DataSource,
  clusterId: string,
  observed: ObservedState,
): Promise<void> {
  const known = knownNames(observed);
  const hash = digest(known);
  await storeObservedNames(ds, clusterId, known, hash);
}

/** The last stored names as an observation (values empty), or none if never observed. */
export async function loadKnownNames(
  m: DataSource | EntityManager,
  clusterId: string,
): Promise<ObservedState> {
  const known = await loadObservedNames(m, clusterId);
  const objects: ObservedState['objects'] = [];
  for (const [vhost, k] of Object.entries(known)) {
    for (const name of k.queues) objects.push({ kind: 'queue', vhost, name, value: {} });
    for (const name of k.exchanges) objects.push({ kind: 'exchange', vhost, name, value: {} });
  }
  return { objects, requests: 0 };
}
