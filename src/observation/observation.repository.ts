import type { Queryable } from '../database/queryable';

/** The SQL of cluster observations (stored on the cluster row). */

/** Names of the other registered clusters that declare this broker cluster name. */
export async function otherClustersNamed(
  q: Queryable,
  brokerClusterName: string,
  exceptClusterId: string,
): Promise<string[]> {
  const rows = await q.query<{ name: string }[]>(
    `SELECT name FROM clusters WHERE broker_cluster_name = $1 AND id <> $2`,
    [brokerClusterName, exceptClusterId],
  );
  return rows.map((r) => r.name);
}

/** Stores an observation (already scrubbed) and the broker version it reported, if any. */
export async function storeObservation(
  q: Queryable,
  clusterId: string,
  observationJson: string,
  brokerVersion: string | null,
): Promise<void> {
  await q.query(
    `UPDATE clusters SET last_observation = $2, observed_at = now(), broker_version = COALESCE($3, broker_version) WHERE id = $1`,
    [clusterId, observationJson, brokerVersion],
  );
}

/** The stored observation of a cluster (undefined: no such cluster; null: not observed yet). */
export async function lastObservation<T>(
  q: Queryable,
  clusterId: string,
): Promise<T | null | undefined> {
  const [row] = await q.query<{ last_observation: T | null }[]>(
    `SELECT last_observation FROM clusters WHERE id = $1`,
    [clusterId],
  );
  return row ? row.last_observation : undefined;
}
