import { LockSessionPool, type LockSessionOptions } from '../../src/database/lock-session';
import { ClusterLock } from '../../src/reconciliation/cluster-lock';
import { eventually } from '../helpers/eventually';
import { createDatabase, dropDatabase, withClient } from '../helpers/postgres';

/**
 * Cluster locks on kept lock sessions (real Postgres): a pass per cluster no longer opens a
 * connection (a Postgres backend) per lock, and a kept session never serves two holders at once
 * (advisory locks are re-entrant per session: sharing one would let two passes in).
 */
describe('cluster locks on kept lock sessions', () => {
  let db: { name: string; url: string };
  const pools: LockSessionPool[] = [];

  beforeAll(async () => {
    db = await createDatabase('crossdock_locks');
  });

  afterAll(async () => {
    for (const p of pools) await p.close();
    await dropDatabase(db.name);
  });

  const pool = (keepMs?: number) => {
    const options: LockSessionOptions = {
      url: db.url,
      connectTimeoutMs: 2000,
      idleTimeoutMs: 10000,
      queryTimeoutMs: 6000,
      applicationName: 'crossdock-cluster-lock',
    };
    const p = new LockSessionPool(options, 2, keepMs);
    pools.push(p);
    return p;
  };

  const sql = <T>(text: string, params: unknown[] = []) =>
    withClient(db.url, async (c) => (await c.query(text, params)).rows as T[]);

  /** The backend holding the cluster's lock in this database. */
  const holder = async (clusterId: string) => {
    const rows = await sql<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('crossdock:reconcile:' || $1, 0)`,
      [clusterId],
    );
    expect(rows).toHaveLength(1);
    return rows[0].pid;
  };

  const sessions = async () =>
    (
      await sql<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'crossdock-cluster-lock'`,
        [db.name],
      )
    ).map((r) => r.pid);

  const acquire = async (p: LockSessionPool, clusterId: string) => {
    const lock = await ClusterLock.tryAcquire(p, clusterId);
    if (!lock) throw new Error(`lock of ${clusterId} not taken`);
    return lock;
  };

  it('takes consecutive locks on one session: one backend for a whole sweep', async () => {
    const p = pool();
    const first = await acquire(p, 'c1');
    const pid = await holder('c1');
    await first.release();
    for (const id of ['c2', 'c3', 'c1']) {
      const lock = await acquire(p, id);
      expect(await holder(id)).toBe(pid);
      expect(await lock.stillHeld()).toBe(true);
      await lock.release();
    }
    expect(await sessions()).toEqual([pid]);
    await p.close();
    await eventually(async () => (await sessions()).length === 0, {
      description: 'close() ends the kept session',
    });
  });

  it('never hands a session that holds a lock to a second holder', async () => {
    const p = pool();
    const a = await acquire(p, 'x1');
    // On the holder's own session the re-entrant lock would be granted: it must be refused.
    expect(await ClusterLock.tryAcquire(p, 'x1')).toBeNull();
    const b = await acquire(p, 'x2');
    expect(await holder('x2')).not.toBe(await holder('x1'));
    await a.release();
    await b.release();
    await p.close();
  });

  it('does not reuse a session Postgres closed while it was kept', async () => {
    const p = pool();
    const first = await acquire(p, 'k1');
    const pid = await holder('k1');
    await first.release();
    await sql(`SELECT pg_terminate_backend($1)`, [pid]);
    await eventually(async () => !(await sessions()).includes(pid), {
      description: 'backend gone',
    });
    const again = await acquire(p, 'k1');
    const next = await holder('k1');
    expect(next).not.toBe(pid);
    expect(await again.stillHeld()).toBe(true);
    await again.release();
    await p.close();
  });

  it('closes a kept session after its keep time', async () => {
    const p = pool(300);
    const lock = await acquire(p, 't1');
    await lock.release();
    expect(await sessions()).toHaveLength(1);
    await eventually(async () => (await sessions()).length === 0, {
      timeoutMs: 5000,
      description: 'kept session closed after 300 ms idle',
    });
    await p.close();
  });
});
