export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
  description?: string;
}

/**
 * Polls `probe` until it returns without throwing (and, for booleans, returns true), or fails
 * after `timeoutMs` with the last error. The bounded alternative to sleeping in tests.
 */
export async function eventually<T>(
  probe: () => Promise<T> | T,
  { timeoutMs = 10000, intervalMs = 100, description = 'condition' }: EventuallyOptions = {},
): Promise<Exclude<T, false>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== false) return value as Exclude<T, false>;
      lastError = new Error(`${description} returned false`);
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`eventually: ${description} not met within ${timeoutMs} ms: ${reason}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface ConsistentlyOptions {
  intervalMs?: number;
  description?: string;
}

/**
 * Checks `probe` for `forMs` and fails at the first time it throws or returns false: the bounded
 * way to say "stays so" (a paused link moves nothing, a state does not flip), where a sleep
 * followed by one check would miss a change that came and went.
 */
export async function consistently<T>(
  probe: () => Promise<T> | T,
  forMs: number,
  { intervalMs = 100, description = 'condition' }: ConsistentlyOptions = {},
): Promise<void> {
  const until = Date.now() + forMs;
  for (;;) {
    let value: T;
    try {
      value = await probe();
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`consistently: ${description} stopped holding: ${reason}`, { cause: err });
    }
    if (value === false) throw new Error(`consistently: ${description} returned false`);
    if (Date.now() >= until) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
