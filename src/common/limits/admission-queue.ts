/** Why a request was not admitted: the queue was full, or its wait ran out. */
export class AdmissionRefused extends Error {
  constructor(
    readonly reason: 'queue-full' | 'wait-timeout',
    readonly retryAfterMs: number,
  ) {
    super(reason === 'queue-full' ? 'the write queue is full' : 'no write slot within the wait');
    this.name = 'AdmissionRefused';
  }
}

interface Waiter {
  grant: (release: () => void) => void;
  refuse: (err: AdmissionRefused) => void;
  timer: NodeJS.Timeout;
}

/**
 * At most `slots` holders at once; up to `maxQueued` more wait in arrival order, each no longer
 * than `maxWaitMs`. Callers get a release function (idempotent) or an AdmissionRefused with a
 * retry hint, never an unbounded wait.
 */
export class AdmissionQueue {
  private active = 0;
  private readonly queue: Waiter[] = [];
  /** Recent hold times, for the Retry-After hint. */
  private avgHoldMs = 50;

  constructor(
    readonly slots: number,
    readonly maxQueued: number,
    readonly maxWaitMs: number,
  ) {
    if (!(slots >= 1)) throw new RangeError('slots must be >= 1');
  }

  get inUse(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** `signal` withdraws a waiting request (the client went away). */
  acquire(signal?: { onAbort(fn: () => void): void }): Promise<() => void> {
    if (this.active < this.slots) {
      this.active += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(new AdmissionRefused('queue-full', this.retryHintMs()));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        refuse: reject,
        timer: setTimeout(() => {
          this.remove(waiter);
          reject(new AdmissionRefused('wait-timeout', this.retryHintMs()));
        }, this.maxWaitMs),
      };
      this.queue.push(waiter);
      signal?.onAbort(() => {
        if (this.remove(waiter)) {
          clearTimeout(waiter.timer);
          reject(new AdmissionRefused('wait-timeout', 0));
        }
      });
    });
  }

  private remove(w: Waiter): boolean {
    const i = this.queue.indexOf(w);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    return true;
  }

  /** How long the current queue takes to drain, roughly: what a refused caller should wait. */
  private retryHintMs(): number {
    return Math.max(1000, ((this.queue.length + 1) * this.avgHoldMs) / this.slots);
  }

  private releaser(): () => void {
    const started = performance.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.avgHoldMs = this.avgHoldMs * 0.9 + (performance.now() - started) * 0.1;
      const next = this.queue.shift();
      if (next) {
        clearTimeout(next.timer);
        next.grant(this.releaser());
      } else {
        this.active -= 1;
      }
    };
  }
}
