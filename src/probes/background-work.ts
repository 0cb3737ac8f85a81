import { performance } from 'node:perf_hooks';

/**
 * Keyed background work: at most one task per key at a time, and nobody waits for it. The probe
 * loop hands every piece of broker work to one of these (a cluster's session, its loopback, a
 * path's probe, a cluster's broker poll), so a broker that does not answer (blocked by an alarm,
 * slow, cut off) holds up its own key and nothing else: the loop's rounds and health evaluations
 * keep their cadence for every other path.
 */
export class BackgroundWork {
  private readonly running = new Map<string, { since: number; done: Promise<void> }>();
  private readonly again = new Map<string, () => Promise<void>>();
  private stopped = false;

  constructor(private readonly onError: (key: string, err: unknown) => void) {}

  /**
   * Starts `work` under `key` unless a task of that key is running. With `again`, a request that
   * finds the key busy runs once more when the running task ends (requests coalesce), for work
   * whose answer may already be out of date when it arrives (an alarm read raced by an alarm).
   */
  start(key: string, work: () => Promise<void>, opts: { again?: boolean } = {}): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      if (opts.again) this.again.set(key, work);
      return;
    }
    const since = performance.now();
    const done = Promise.resolve()
      .then(work)
      .catch((err: unknown) => this.onError(key, err))
      .finally(() => {
        this.running.delete(key);
        const next = this.again.get(key);
        this.again.delete(key);
        if (next) this.start(key, next);
      });
    this.running.set(key, { since, done });
  }

  busy(key: string): boolean {
    return this.running.has(key);
  }

  /** performance.now() when the running task of `key` started; undefined when idle. */
  since(key: string): number | undefined {
    return this.running.get(key)?.since;
  }

  /** Stops taking work and waits (at most `timeoutMs`) for the running tasks. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.again.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.running.values()].map((r) => r.done)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}
