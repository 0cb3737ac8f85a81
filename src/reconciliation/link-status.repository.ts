import type { DeleteBlock } from '../clusters/cluster.entity';
import type { Queryable } from '../database/queryable';

/** The SQL of link status reads. */

/**
 * A whole registry row (`SELECT *`) as Postgres returns it, column names as keys: the status
 * reads what it needs column by column (see registryStatus).
 */
export type RegistryRecord = Record<string, unknown>;

/** The cluster whose mass-delete block holds an owner's broker objects back. */
export interface DeleteBlockedRow {
  id: string;
  delete_blocked: DeleteBlock;
}

/** The federation link's row, every column (undefined: not in the registry). */
export async function federationLinkRecord(
  q: Queryable,
  id: string,
): Promise<RegistryRecord | undefined> {
  const [l] = await q.query<RegistryRecord[]>(`SELECT * FROM federation_links WHERE id = $1`, [id]);
  return l;
}

/** The shovel's row, every column (undefined: not in the registry). */
export async function shovelRecord(q: Queryable, id: string): Promise<RegistryRecord | undefined> {
  const [s] = await q.query<RegistryRecord[]>(`SELECT * FROM shovels WHERE id = $1`, [id]);
  return s;
}

/** The site's name (undefined: no such site). */
export async function siteName(q: Queryable, siteId: string): Promise<string | undefined> {
  const [site] = await q.query<{ name: string }[]>(`SELECT name FROM sites WHERE id = $1`, [
    siteId,
  ]);
  return site?.name;
}

/** The first cluster (by registration) whose delete block lists the owner, if any. */
export async function deleteBlockHolding(
  q: Queryable,
  owner: string,
): Promise<DeleteBlockedRow | undefined> {
  const [row] = await q.query<DeleteBlockedRow[]>(
    `SELECT id, delete_blocked FROM clusters
        WHERE delete_blocked IS NOT NULL AND delete_blocked -> 'owners' ? $1 ORDER BY seq LIMIT 1`,
    [owner],
  );
  return row;
}
