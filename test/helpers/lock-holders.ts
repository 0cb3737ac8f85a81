import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Client } from 'pg';

/** Socket inode of each local TCP port connected to `remotePort` (Linux /proc/net/tcp). */
function inodesByLocalPort(remotePort: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = parseInt(f[1].split(':')[1], 16);
      const remote = parseInt(f[2].split(':')[1], 16);
      if (remote === remotePort) out.set(local, f[9]);
    }
  }
  return out;
}

/** Which of `pids` owns the Postgres connection from local port `port` (frozen ones too). */
function ownerOfPort(port: number, pids: number[], pgPort: number): number | undefined {
  const inode = inodesByLocalPort(pgPort).get(port);
  if (!inode) return undefined;
  const link = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === link) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/**
 * Who holds crossdock's session advisory locks: for each id (a cluster id for namespace
 * 'reconcile', a probe path id for 'probe'), the pid among `pids` whose connection holds the
 * lock, from pg_locks, pg_stat_activity's client port and /proc. Ids nobody holds are absent.
 */
export async function lockHolders(
  pg: Client,
  namespace: 'reconcile' | 'probe',
  ids: string[],
  pids: number[],
  pgPort = 5432,
): Promise<Map<string, number>> {
  const rows = (
    await pg.query<{ id: string; port: number }>(
      `SELECT k.id, a.client_port AS port FROM unnest($2::text[]) AS k(id)
         JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1 || k.id, 0)
         JOIN pg_stat_activity a ON a.pid = l.pid`,
      [`crossdock:${namespace}:`, ids],
    )
  ).rows;
  const out = new Map<string, number>();
  for (const r of rows) {
    const pid = ownerOfPort(r.port, pids, pgPort);
    if (pid !== undefined) out.set(r.id, pid);
  }
  return out;
}
