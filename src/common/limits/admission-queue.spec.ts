import { AdmissionQueue, AdmissionRefused } from './admission-queue';

describe('AdmissionQueue', () => {
  it('serves `slots` at once and the rest in arrival order', async () => {
    const q = new AdmissionQueue(2, 10, 5000);
    const order: number[] = [];
    const releases = await Promise.all([q.acquire(), q.acquire()]);
    const waiting = [3, 4, 5].map((n) =>
      q.acquire().then((release) => {
        order.push(n);
        return release;
      }),
    );
    expect(q.waiting).toBe(3);
    releases[0]();
    releases[0](); // idempotent: frees one slot only
    const r3 = await waiting[0];
    expect(order).toEqual([3]);
    releases[1]();
    r3();
    await Promise.all(waiting.slice(1));
    expect(order).toEqual([3, 4, 5]);
    expect(q.inUse).toBe(2);
  });

  it('refuses at once when the queue is full, with a retry hint of at least a second', async () => {
    const q = new AdmissionQueue(1, 1, 50);
    await q.acquire();
    const queued = q.acquire();
    const err = await q.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdmissionRefused);
    expect((err as AdmissionRefused).reason).toBe('queue-full');
    expect((err as AdmissionRefused).retryAfterMs).toBeGreaterThanOrEqual(1000);
    void queued.catch(() => undefined);
  });

  it('refuses a waiter whose wait runs out, and lets an aborted waiter go', async () => {
    jest.useFakeTimers();
    try {
      const q = new AdmissionQueue(1, 5, 200);
      const release = await q.acquire();
      const timedOut = q.acquire().catch((e: unknown) => e);
      let abort: () => void = () => undefined;
      const aborted = q.acquire({ onAbort: (fn) => (abort = fn) }).catch((e: unknown) => e);
      abort();
      expect(q.waiting).toBe(1);
      jest.advanceTimersByTime(250);
      expect(((await timedOut) as AdmissionRefused).reason).toBe('wait-timeout');
      expect(await aborted).toBeInstanceOf(AdmissionRefused);
      release();
      expect(q.inUse).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
