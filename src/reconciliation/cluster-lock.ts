import type { LockSession, LockSessionPool } from '../database/lock-session';
import { clusterLockGrants, tryClusterLock, unlockCluster } from './cluster-lock.repository';

/** Thrown before a write when the lock is gone or could not be re-confirmed in time. */
export class ClusterLockLostError extends Error {
  constructor(clusterId: string, why: string) {
    super(`the cluster lock of ${clusterId} was lost (${why}); nothing more is written`);
    this.name = 'ClusterLockLostError';
  }
}

/**
 * A session advisory lock on a dedicated lock session of its own (see LockSession): taken,
 * checked and released on that one connection, gone with it (a dead replica, a database restart,
 * or a frozen replica whose idle session Postgres closed).
 *
 * Two checks guard broker writes: `stillHeld()` asks Postgres (before each planned write), and
 * `guardWrite()` runs right before every HTTP write attempt: it passes at once while the last
 * confirmation is younger than the lease (half the idle timeout, by the monotonic clock) and
 * re-confirms otherwise. A process frozen after its last check therefore re-confirms when it
 * resumes, finds its session closed, and does not write.
 */
export class ClusterLock {
  private lost = false;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly pool: LockSessionPool,
    private readonly session: LockSession,
    readonly clusterId: string,
  ) {
    this.unsubscribe = session.onLost(() => (this.lost = true));
  }

  /** The lock on a session of `pool` (application_name crossdock-cluster-lock), or null if held. */
  static async tryAcquire(pool: LockSessionPool, clusterId: string): Promise<ClusterLock | null> {
    const session = pool.take();
    try {
      if (await tryClusterLock(session, clusterId))
        return new ClusterLock(pool, session, clusterId);
    } catch (err) {
      await session.close();
      throw err;
    }
    pool.give(session); // it holds nothing
    return null;
  }

  private inFlight?: Promise<boolean>;

  /**
   * True while this session still holds the lock; checked before every planned broker write.
   * Concurrent callers share one query: the session runs one statement at a time.
   */
  stillHeld(): Promise<boolean> {
    this.inFlight ??= this.check().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async check(): Promise<boolean> {
    if (this.lost) return false;
    try {
      if ((await clusterLockGrants(this.session, this.clusterId)) > 0) return true;
    } catch {
      // The session is gone, and the lock with it.
    }
    this.lost = true;
    return false;
  }

  /**
   * The lease check before one HTTP write: resolves while the lock is held and its confirmation
   * is recent by the monotonic clock, re-confirming as often as needed (a freeze may also happen
   * during the re-confirmation); throws ClusterLockLostError otherwise. The last test is
   * synchronous, right before the caller sends.
   */
  async guardWrite(): Promise<void> {
    for (let tries = 0; ; tries++) {
      if (this.lost) throw new ClusterLockLostError(this.clusterId, 'session closed');
      if (this.session.fresh()) return;
      if (tries === 3 || !(await this.stillHeld()))
        throw new ClusterLockLostError(this.clusterId, 'not confirmed within the lease');
    }
  }

  /** Unlocks; the session goes back to its pool only when the unlock went through. */
  async release(): Promise<void> {
    let unlocked = false;
    try {
      if (!this.lost) {
        unlocked = (await unlockCluster(this.session, this.clusterId)) && !this.lost;
      }
    } catch {
      // The connection is gone, and the lock with it.
    } finally {
      this.lost = true;
      this.unsubscribe();
      if (unlocked) this.pool.give(this.session);
      else await this.session.close();
    }
  }
}
