import type { Queryable } from '../database/queryable';

/** The SQL of link-user credentials and rotations. */

export type LinkUserSlot = 'a' | 'b';

/** Column names of a slot (fixed strings, never user input). */
export const slotColumns = {
  a: { password: 'link_user_password_enc', salt: 'link_user_salt' },
  b: { password: 'link_user_b_password_enc', salt: 'link_user_b_salt' },
} as const;

export interface SealedSlotRow {
  enc: string | null;
  salt: string | null;
}

export interface ClusterRefRow {
  clusterId: string;
  name: string;
}

export interface LinkUserRotationRow {
  id: string;
  status: 'verifying' | 'switching' | 'completed';
  from_username: string;
  to_username: string;
  attempts: number;
  last_error: string | null;
  requested_by: string | null;
  applied_by: string[];
  created_at: Date;
  verified_at: Date | null;
  switched_at: Date | null;
  completed_at: Date | null;
}

export interface RotatingClusterRow {
  id: string;
  name: string;
  site_id: string;
  link_user_slot: LinkUserSlot;
}

/** A slot's sealed password and salt (undefined: no such cluster). */
export async function sealedSlot(
  m: Queryable,
  clusterId: string,
  slot: LinkUserSlot,
): Promise<SealedSlotRow | undefined> {
  const c = slotColumns[slot];
  const [row] = await m.query<SealedSlotRow[]>(
    `SELECT ${c.password} AS enc, ${c.salt} AS salt FROM clusters WHERE id = $1`,
    [clusterId],
  );
  return row;
}

export async function writeSealedSlot(
  m: Queryable,
  clusterId: string,
  slot: LinkUserSlot,
  enc: string | null,
  salt: string | null,
): Promise<void> {
  const c = slotColumns[slot];
  await m.query(`UPDATE clusters SET ${c.password} = $2, ${c.salt} = $3 WHERE id = $1`, [
    clusterId,
    enc,
    salt,
  ]);
}

/** The active slot, the cluster row locked until the transaction ends (undefined: no cluster). */
export async function lockActiveSlot(
  m: Queryable,
  clusterId: string,
): Promise<LinkUserSlot | undefined> {
  const [row] = await m.query<{ link_user_slot: LinkUserSlot }[]>(
    `SELECT link_user_slot FROM clusters WHERE id = $1 FOR UPDATE`,
    [clusterId],
  );
  return row?.link_user_slot;
}

export async function activeSlot(
  q: Queryable,
  clusterId: string,
): Promise<{ id: string; link_user_slot: LinkUserSlot } | undefined> {
  const [c] = await q.query<{ id: string; link_user_slot: LinkUserSlot }[]>(
    `SELECT id, link_user_slot FROM clusters WHERE id = $1`,
    [clusterId],
  );
  return c;
}

/** The vhosts other clusters' links and shovels reach this cluster in. */
export async function linkedVhosts(q: Queryable, clusterId: string): Promise<string[]> {
  const rows = await q.query<{ vhost: string }[]>(
    `SELECT upstream_vhost AS vhost FROM federation_links WHERE upstream_cluster_id = $1
       UNION SELECT destination_vhost FROM shovels WHERE destination_cluster_id = $1 ORDER BY 1`,
    [clusterId],
  );
  return rows.map((v) => v.vhost);
}

/** The clusters whose links or shovels connect to this one. */
export function connectingClusters(q: Queryable, clusterId: string): Promise<ClusterRefRow[]> {
  return q.query<ClusterRefRow[]>(
    `SELECT c.id AS "clusterId", c.name FROM clusters c WHERE c.id IN (
         SELECT downstream_cluster_id FROM federation_links WHERE upstream_cluster_id = $1
         UNION SELECT source_cluster_id FROM shovels WHERE destination_cluster_id = $1)
       ORDER BY c.seq`,
    [clusterId],
  );
}

export async function latestRotation(
  q: Queryable,
  clusterId: string,
): Promise<LinkUserRotationRow | undefined> {
  const [r] = await q.query<LinkUserRotationRow[]>(
    `SELECT * FROM link_user_rotations WHERE cluster_id = $1 ORDER BY seq DESC LIMIT 1`,
    [clusterId],
  );
  return r;
}

export function clusterRefs(q: Queryable, ids: string[]): Promise<ClusterRefRow[]> {
  return q.query<ClusterRefRow[]>(
    `SELECT id AS "clusterId", name FROM clusters WHERE id = ANY($1) ORDER BY seq`,
    [ids],
  );
}

export async function lockClusterForRotation(
  m: Queryable,
  clusterId: string,
): Promise<RotatingClusterRow | undefined> {
  const [c] = await m.query<RotatingClusterRow[]>(
    `SELECT id, name, site_id, link_user_slot FROM clusters WHERE id = $1 FOR UPDATE`,
    [clusterId],
  );
  return c;
}

/** The status of the cluster's rotation in progress, if any. */
export async function unfinishedRotationStatus(
  m: Queryable,
  clusterId: string,
): Promise<string | undefined> {
  const [busy] = await m.query<{ status: string }[]>(
    `SELECT status FROM link_user_rotations WHERE cluster_id = $1 AND status <> 'completed'`,
    [clusterId],
  );
  return busy?.status;
}

export async function insertRotation(
  m: Queryable,
  r: {
    clusterId: string;
    from: LinkUserSlot;
    to: LinkUserSlot;
    fromUsername: string;
    toUsername: string;
    requestedBy: string | null;
  },
): Promise<string> {
  const [row] = await m.query<{ id: string }[]>(
    `INSERT INTO link_user_rotations (cluster_id, from_slot, to_slot, from_username, to_username, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [r.clusterId, r.from, r.to, r.fromUsername, r.toUsername, r.requestedBy],
  );
  return row.id;
}
