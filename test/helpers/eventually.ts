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
