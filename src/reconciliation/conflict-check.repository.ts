import type { DataSource, EntityManager } from 'typeorm';

/**
 * The reads behind registry validation: the advisory lock that serialises validated changes,
 * the names that describe a conflict, and the exchange and queue names a pass last observed
 * (`clusters.observed_objects`). Every function runs on the caller's manager (its transaction).
 */

type Sql = Pick<EntityManager, 'query'>;

/** Exchange and queue names per vhost. */
export type StoredNames = Record<string, { queues: string[]; exchanges: string[] }>;

/** Takes the transaction-scoped advisory lock `key` (released at commit or rollback). */
export async function lockForValidation(m: Sql, key: number): Promise<void> {
  await m.query('SELECT pg_advisory_xact_lock($1)', [key]);
}

export async function clusterExists(m: Sql, clusterId: string): Promise<boolean> {
  const [exists] = (await m.query(`SELECT 1 FROM clusters WHERE id = $1`, [clusterId])) as [
    unknown?,
  ];
  return !!exists;
}

/** `site/cluster`, or undefined when the cluster is gone. */
export async function clusterLabel(m: Sql, clusterId: string): Promise<string | undefined> {
  const [cluster] = (await m.query(
    `SELECT c.name, s.name AS site FROM clusters c JOIN sites s ON s.id = c.site_id WHERE c.id = $1`,
    [clusterId],
  )) as { name: string; site: string }[];
  return cluster ? `${cluster.site}/${cluster.name}` : undefined;
}

export async function policyName(m: Sql, id: string): Promise<string | undefined> {
  const [p] = (await m.query(`SELECT name FROM policies WHERE id = $1`, [id])) as {
    name: string;
  }[];
  return p?.name;
}

export async function federationLinkName(m: Sql, id: string): Promise<string | undefined> {
  const [l] = (await m.query(`SELECT name FROM federation_links WHERE id = $1`, [id])) as {
    name: string;
  }[];
  return l?.name;
}

/** Stores the names unless the stored `hash` is the same already. */
export async function storeObservedNames(
  ds: Pick<DataSource, 'query'>,
  clusterId: string,
  known: StoredNames,
  hash: string,
): Promise<void> {
  await ds.query(
    `UPDATE clusters SET observed_objects = $2, objects_observed_at = now()
     WHERE id = $1 AND (observed_objects IS NULL OR observed_objects->>'hash' IS DISTINCT FROM $3)`,
    [clusterId, JSON.stringify({ hash, known }), hash],
  );
}

/** The stored names ({} when never observed or the cluster is gone). */
export async function loadObservedNames(m: Sql, clusterId: string): Promise<StoredNames> {
  const [row] = (await m.query(`SELECT observed_objects FROM clusters WHERE id = $1`, [
    clusterId,
  ])) as { observed_objects: { known?: StoredNames } | null }[];
  return row?.observed_objects?.known ?? {};
}
