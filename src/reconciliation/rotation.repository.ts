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

/** A cluster whose broker objects carry another cluster's link credential. */
export interface ConnectingClusterRow {
  id: string;
}

/** Clusters with federation links or shovels that log in to `clusterId` (unsorted). */
export async function connectingClusterRows(
  q: Queryable,
  clusterId: string,
): Promise<ConnectingClusterRow[]> {
  return (await q.query(
    `SELECT downstream_cluster_id AS id FROM federation_links WHERE upstream_cluster_id = $1
     UNION SELECT source_cluster_id FROM shovels WHERE destination_cluster_id = $1`,
    [clusterId],
  )) as ConnectingClusterRow[];
}

/** A site's load balancer, as the link URIs need it. */
export interface SiteLoadBalancerRow {
  host: string | null;
  port: number | null;
}

/** The load balancer of a site, or undefined when the site is gone. */
export async function siteLoadBalancer(
  q: Queryable,
  siteId: string,
): Promise<SiteLoadBalancerRow | undefined> {
  const [site] = (await q.query(
    `SELECT load_balancer_host AS host, load_balancer_port AS port FROM sites WHERE id = $1`,
    [siteId],
  )) as SiteLoadBalancerRow[];
  return site;
}

/** A failed verification: one more attempt, with its (redacted) error. */
export async function recordVerifyFailure(
  q: Queryable,
  rotationId: string,
  message: string,
): Promise<void> {
  await q.query(
    `UPDATE link_user_rotations SET attempts = attempts + 1, last_error = $2, updated_at = now() WHERE id = $1`,
    [rotationId, message],
  );
}

/** Switches the cluster's active link-user slot. */
export async function setActiveSlot(
  q: Queryable,
  clusterId: string,
  slot: LinkUserSlot,
): Promise<void> {
  await q.query(`UPDATE clusters SET link_user_slot = $2 WHERE id = $1`, [clusterId, slot]);
}

/** The new user is verified: the rotation switches. */
export async function markSwitching(q: Queryable, rotationId: string): Promise<void> {
  await q.query(
    `UPDATE link_user_rotations SET status = 'switching', attempts = attempts + 1, last_error = NULL,
           verified_at = now(), switched_at = now(), updated_at = now() WHERE id = $1`,
    [rotationId],
  );
}

/** Stores why a switching rotation waits (already redacted). */
export async function recordWaitReason(
  q: Queryable,
  rotationId: string,
  message: string,
): Promise<void> {
  await q.query(
    `UPDATE link_user_rotations SET last_error = $2, updated_at = now() WHERE id = $1`,
    [rotationId, message],
  );
}

/** The rotation whose refresh request was (re)stored. */
export interface RefreshRequestedRow {
  id: string;
}

/**
 * Asks the connecting clusters to restart the named objects: stored when the set changed, or
 * when the last request is older than 30 s. True when it was stored.
 */
export async function requestRefresh(
  q: Queryable,
  rotationId: string,
  names: string[],
): Promise<boolean> {
  const asked = (await q.query(
    `UPDATE link_user_rotations SET refresh_requested = $2, refresh_pending = $2, refresh_requested_at = now()
         WHERE id = $1 AND (refresh_requested <> $2 OR refresh_requested_at IS NULL
           OR refresh_requested_at < now() - interval '30 seconds')
         RETURNING id`,
    [rotationId, names],
  )) as [RefreshRequestedRow[], number];
  return asked[0].length > 0;
}

/** The previous user is gone: the rotation completes. */
export async function markCompleted(q: Queryable, rotationId: string): Promise<void> {
  await q.query(
    `UPDATE link_user_rotations SET status = 'completed', completed_at = now(), updated_at = now() WHERE id = $1`,
    [rotationId],
  );
}
