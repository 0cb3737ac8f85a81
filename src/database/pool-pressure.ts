import type { DataSource } from 'typeorm';

interface PgPoolLike {
  totalCount?: number;
  waitingCount?: number;
  options?: { max?: number };
}

/**
 * True when every pooled connection is established and in use: a checkout that times out now
 * waited for a busy pool, not for an unreachable Postgres (pg-pool reports both with the same
 * "timeout exceeded when trying to connect"). During an outage dead connections leave the pool,
 * so it is not full.
 */
export function poolSaturated(ds: DataSource | undefined): boolean {
  const pool = (ds?.driver as { master?: PgPoolLike } | undefined)?.master;
  const max = pool?.options?.max;
  if (!pool || typeof max !== 'number' || typeof pool.totalCount !== 'number') return false;
  return pool.totalCount >= max;
}

export const poolCheckoutTimeout = /timeout exceeded when trying to connect/i;
