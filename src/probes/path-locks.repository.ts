import type { LockSession } from '../database/lock-session';

/**
 * The SQL of path locks: session advisory locks keyed by `crossdock:<namespace>:<path>`, on the
 * holder's dedicated lock session.
 */

const lockKey = (namespace: string) => `hashtextextended('crossdock:${namespace}:' || p, 0)`;

export async function releasePathLocks(
  session: LockSession,
  namespace: string,
  paths: string[],
): Promise<void> {
  await session.query(
    `SELECT pg_advisory_unlock(${lockKey(namespace)}) FROM unnest($1::text[]) AS p`,
    [paths],
  );
}

/** Tries each path's lock without waiting: which ones this session holds now. */
export function tryPathLocks(
  session: LockSession,
  namespace: string,
  paths: string[],
): Promise<{ p: string; ok: boolean }[]> {
  return session.query<{ p: string; ok: boolean }>(
    `SELECT p, pg_try_advisory_lock(${lockKey(namespace)}) AS ok FROM unnest($1::text[]) AS p`,
    [paths],
  );
}

/** One round trip: the session (and so every lock it holds) is still there. */
export async function pingLockSession(session: LockSession): Promise<void> {
  await session.query('SELECT 1');
}
