import { LockSession, type LockSessionOptions } from '../database/lock-session';
import { pingLockSession, releasePathLocks, tryPathLocks } from './path-locks.repository';

/**
 * Session advisory locks for probe paths (or overflow rules), all on one dedicated lock session:
 * a path is probed by the instance holding its lock, and the locks vanish with the session (a
 * dead replica, a database restart). The session carries `idle_session_timeout` and is pinged by
 * its holder, so a frozen replica loses its locks within that time and another one takes its
 * paths over.
 */
export class PathLocks {
  private readonly session: LockSession;
  private readonly held = new Set<string>();

  constructor(
    options: Omit<LockSessionOptions, 'applicationName'>,
    /** Lock key namespace: 'probe' (paths), 'overflow' (rules). */
    private readonly namespace = 'probe',
  ) {
    this.session = new LockSession({
      ...options,
      applicationName: `crossdock-${this.namespace}-locks`,
    });
    this.session.onLost(() => this.held.clear());
  }

  get paths(): ReadonlySet<string> {
    return this.held;
  }

  /**
   * Holds exactly the wanted paths this instance can get: takes free ones, releases unwanted
   * ones, and confirms the held ones are still held (one round trip for all of them).
   */
  async sync(wanted: readonly string[]): Promise<ReadonlySet<string>> {
    const want = new Set(wanted);
    const release = [...this.held].filter((p) => !want.has(p));
    const take = wanted.filter((p) => !this.held.has(p));
    try {
      if (release.length) {
        await releasePathLocks(this.session, this.namespace, release);
        for (const p of release) this.held.delete(p);
      }
      if (take.length) {
        const rows = await tryPathLocks(this.session, this.namespace, take);
        for (const r of rows) if (r.ok) this.held.add(r.p);
      } else {
        await pingLockSession(this.session);
      }
    } catch {
      // The session is dropped (and `held` cleared) by the failed statement; retried next sync.
    }
    return this.held;
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}
