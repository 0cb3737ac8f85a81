import type { Queryable } from '../database/queryable';
import type { ObjectKey } from '../broker-topology/object-kinds';
import type { LedgerEntry } from './broker-state';

/** The SQL of the ownership ledger (`managed_objects`) and of a pass's applied generations. */

/** Parallel columns of a batch of ledger keys (one element per object). */
export interface LedgerKeyColumns {
  kinds: string[];
  vhosts: string[];
  names: string[];
}

/** Claims a batch of objects: one unconfirmed row each (an existing row changes owner). */
export async function claimUnconfirmed(
  q: Queryable,
  clusterId: string,
  keys: LedgerKeyColumns & { owners: string[] },
): Promise<void> {
  await q.query(
    `INSERT INTO managed_objects (cluster_id, kind, vhost, name, owner, confirmed)
     SELECT $1::uuid, k, v, n, o, false FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS x(k, v, n, o)
     ON CONFLICT (cluster_id, kind, vhost, name) DO UPDATE SET owner = EXCLUDED.owner, confirmed = false, ensure_only = NULL`,
    [clusterId, keys.kinds, keys.vhosts, keys.names, keys.owners],
  );
}

/** Removes a batch of objects from the ledger. */
export async function deleteBatch(
  q: Queryable,
  clusterId: string,
  keys: LedgerKeyColumns,
): Promise<void> {
  await q.query(
    `DELETE FROM managed_objects o USING unnest($2::text[], $3::text[], $4::text[]) AS x(k, v, n)
        WHERE o.cluster_id = $1 AND o.kind = x.k AND o.vhost = x.v AND o.name = x.n`,
    [clusterId, keys.kinds, keys.vhosts, keys.names],
  );
}

/** Confirms a batch of objects (the broker accepted their writes). */
export async function confirmBatch(
  q: Queryable,
  clusterId: string,
  keys: LedgerKeyColumns,
): Promise<void> {
  await q.query(
    `UPDATE managed_objects o SET confirmed = true FROM unnest($2::text[], $3::text[], $4::text[]) AS x(k, v, n)
        WHERE o.cluster_id = $1 AND o.kind = x.k AND o.vhost = x.v AND o.name = x.n AND NOT o.confirmed`,
    [clusterId, keys.kinds, keys.vhosts, keys.names],
  );
}

/** All ledger rows of a cluster. */
export async function ledgerOf(q: Queryable, clusterId: string): Promise<LedgerEntry[]> {
  return (await q.query(
    `SELECT kind, vhost, name, owner, confirmed, ensure_only AS "ensureOnly" FROM managed_objects WHERE cluster_id = $1`,
    [clusterId],
  )) as LedgerEntry[];
}

/** Forgets one ledger row. */
export async function deleteOne(q: Queryable, clusterId: string, key: ObjectKey): Promise<void> {
  await q.query(
    `DELETE FROM managed_objects WHERE cluster_id = $1 AND kind = $2 AND vhost = $3 AND name = $4`,
    [clusterId, key.kind, key.vhost, key.name],
  );
}

/** Confirms one ledger row. */
export async function confirmOne(q: Queryable, clusterId: string, key: ObjectKey): Promise<void> {
  await q.query(
    `UPDATE managed_objects SET confirmed = true WHERE cluster_id = $1 AND kind = $2 AND vhost = $3 AND name = $4`,
    [clusterId, key.kind, key.vhost, key.name],
  );
}

/** Owns an object from now on; an existing row stays as it is. */
export async function adoptOne(q: Queryable, clusterId: string, entry: LedgerEntry): Promise<void> {
  await q.query(
    `INSERT INTO managed_objects (cluster_id, kind, vhost, name, owner) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (cluster_id, kind, vhost, name) DO NOTHING`,
    [clusterId, entry.kind, entry.vhost, entry.name, entry.owner],
  );
}

/**
 * Marks the cluster's links as applied: federation links and shovels updated by `passStarted`,
 * except the held-back federation links.
 */
export async function markLinksApplied(
  q: Queryable,
  clusterId: string,
  passStarted: Date,
  heldBackLinks: string[],
): Promise<void> {
  await q.query(
    `WITH links AS (
       UPDATE federation_links SET applied_generation = generation
        WHERE downstream_cluster_id = $1 AND updated_at <= $2 AND NOT (id = ANY($3::uuid[])))
     UPDATE shovels SET applied_generation = generation WHERE source_cluster_id = $1 AND updated_at <= $2`,
    [clusterId, passStarted, heldBackLinks],
  );
}
