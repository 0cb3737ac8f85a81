import type { EntityManager } from 'typeorm';
import { allClusterIds, notifyChannel } from './changes.repository';

/** Postgres channel on which committed registry changes name the clusters they affect. */
export const changesChannel = 'crossdock_changes';

/**
 * Tells every replica's reconciler that these clusters changed. NOTIFY is transactional: it is
 * delivered on COMMIT and dropped on ROLLBACK, so a failed change triggers nothing. Features
 * call this; they never import the reconciler.
 */
export async function notifyClustersChanged(m: EntityManager, clusterIds: string[]): Promise<void> {
  const ids = [...new Set(clusterIds)];
  if (ids.length) await notifyChannel(m, changesChannel, ids.join(','));
}

/** A change every cluster's link URIs may depend on (a site's load-balancer address). */
export async function notifyAllClustersChanged(m: EntityManager): Promise<void> {
  await notifyClustersChanged(m, await allClusterIds(m));
}
