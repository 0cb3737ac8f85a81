import type { DataSource, QueryRunner } from 'typeorm';

const lockKeySql = `hashtextextended('crossdock:reconcile:' || $1, 0)`;

/**
 * A session advisory lock on one pinned connection: the lock belongs to that connection, so it
 * is taken, checked and released there (never through the pool), and it vanishes with the
 * connection (a dead replica or a database restart frees it).
 */
export class ClusterLock {
  private constructor(
    private readonly runner: QueryRunner,
    readonly clusterId: string,
  ) {}

  static async tryAcquire(ds: DataSource, clusterId: string): Promise<ClusterLock | null> {
    const runner = ds.createQueryRunner();
    await runner.connect();
    try {
      const [row] = (await runner.query(`SELECT pg_try_advisory_lock(${lockKeySql}) AS ok`, [
        clusterId,
      ])) as { ok: boolean }[];
      if (row?.ok) return new ClusterLock(runner, clusterId);
    } catch (err) {
      await runner.release();
      throw err;
    }
    await runner.release();
    return null;
  }

  private inFlight?: Promise<boolean>;

  /**
   * True while this connection still holds the lock; checked before every broker write.
   * Concurrent callers share one query: the pinned connection runs one statement at a time.
   */
  stillHeld(): Promise<boolean> {
    this.inFlight ??= this.check().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async check(): Promise<boolean> {
    try {
      const [row] = (await this.runner.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
           AND ((classid::bigint << 32) | objid::bigint) = (${lockKeySql} & x'ffffffffffffffff'::bigint)`,
        [this.clusterId],
      )) as { n: number }[];
      return (row?.n ?? 0) > 0;
    } catch {
      return false;
    }
  }

  async release(): Promise<void> {
    try {
      await this.runner.query(`SELECT pg_advisory_unlock(${lockKeySql})`, [this.clusterId]);
    } catch {
      // The connection is gone, and the lock with it.
    } finally {
      await this.runner.release().catch(() => undefined);
    }
  }
}
