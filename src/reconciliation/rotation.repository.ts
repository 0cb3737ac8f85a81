import type { DataSource } from 'typeorm';
import type { Queryable } from '../database/queryable';
import type { LinkUserSlot } from '../clusters/link-user-credentials';

/** A cluster's link-user rotation as stored (`link_user_rotations`). */
export interface RotationRow {
  id: string;
  cluster_id: string;
  from_slot: LinkUserSlot;
  to_slot: LinkUserSlot;
  from_username: string;
  to_username: string;
  status: 'verifying' | 'switching' | 'completed';
  attempts: number;
  last_error: string | null;
  applied_by: string[];
  refresh_requested: string[];
}

export async function unfinishedRotation(
  ds: DataSource,
  clusterId: string,
): Promise<RotationRow | undefined> {
  const [row] = (await ds.query(
    `SELECT id, cluster_id, from_slot, to_slot, from_username, to_username, status, attempts,
            last_error, applied_by, refresh_requested
     FROM link_user_rotations WHERE cluster_id = $1 AND status <> 'completed'`,
    [clusterId],
  )) as RotationRow[];
  return row;
}

/** A switching rotation whose connecting clusters still have links to restart. */
export interface PendingRefreshRow {
  id: string;
  cluster_id: string;
  refresh_pending: string[];
}

/** The switching rotations of `clusterIds` with links still to restart (`refresh_pending`). */
export async function pendingRefreshes(
  q: Queryable,
  clusterIds: string[],
): Promise<PendingRefreshRow[]> {
  return (await q.query(
    `SELECT id, cluster_id, refresh_pending FROM link_user_rotations
     WHERE cluster_id = ANY($1) AND status = 'switching' AND cardinality(refresh_pending) > 0`,
    [clusterIds],
  )) as PendingRefreshRow[];
}

/** Takes the restarted link objects off a rotation's `refresh_pending`. */
export async function clearRefreshPending(
  q: Queryable,
  rotationId: string,
  names: string[],
): Promise<void> {
  await q.query(
    `UPDATE link_user_rotations SET refresh_pending = ARRAY(
           SELECT x FROM unnest(refresh_pending) AS x WHERE NOT (x = ANY($2))), updated_at = now()
         WHERE id = $1`,
    [rotationId, names],
  );
}

/** The rotation a connecting cluster's pass applied (its id), if the call recorded one. */
export interface AppliedByRow {
  id: string;
}

/**
 * Records that `appliedBy` applied the switching rotation of `clusterId` to `toUsername`; the
 * rotation, or undefined when there was none to record (none switching, or already recorded).
 */
export async function recordAppliedBy(
  q: Queryable,
  clusterId: string,
  appliedBy: string,
  toUsername: string,
): Promise<AppliedByRow | undefined> {
  const rows = (await q.query(
    `UPDATE link_user_rotations SET applied_by = array_append(applied_by, $2::uuid), updated_at = now()
         WHERE cluster_id = $1 AND status = 'switching' AND to_username = $3 AND NOT ($2::uuid = ANY(applied_by))
         RETURNING id`,
    [clusterId, appliedBy, toUsername],
  )) as [AppliedByRow[], number];
  return rows[0]?.[0];
}
