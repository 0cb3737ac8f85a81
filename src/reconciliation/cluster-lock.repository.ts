import type { LockSession } from '../database/lock-session';

/**
 * The SQL of cluster locks: a session advisory lock keyed by `crossdock:reconcile:<cluster id>`,
 * on the holder's dedicated lock session.
 */

const lockKeySql = `hashtextextended('crossdock:reconcile:' || $1, 0)`;

/** Takes the cluster's lock without waiting: whether this session holds it now. */
export async function tryClusterLock(session: LockSession, clusterId: string): Promise<boolean> {
  const [row] = await session.query<{ ok: boolean }>(
    `SELECT pg_try_advisory_lock(${lockKeySql}) AS ok`,
    [clusterId],
  );
  return !!row?.ok;
}

/** How many grants of the cluster's lock this session holds (0: none). */
export async function clusterLockGrants(session: LockSession, clusterId: string): Promise<number> {
  const [row] = await session.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
           AND ((classid::bigint << 32) | objid::bigint) = (${lockKeySql} & x'ffffffffffffffff'::bigint)`,
    [clusterId],
  );
  return row?.n ?? 0;
}

/** Releases the cluster's lock: whether this session held it (and so let it go). */
export async function unlockCluster(session: LockSession, clusterId: string): Promise<boolean> {
  const [row] = await session.query<{ ok: boolean }>(
    `SELECT pg_advisory_unlock(${lockKeySql}) AS ok`,
    [clusterId],
  );
  return row?.ok === true;
}
