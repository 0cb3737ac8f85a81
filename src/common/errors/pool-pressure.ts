import type { DataSource } from 'typeorm';

interface PgClientLike {
  _connected?: boolean;
  _ending?: boolean;
}

interface PgPoolLike {
  _clients?: PgClientLike[];
  options?: { max?: number };
}

/**
 * True when every pooled connection is established and in use: a checkout that times out now
 * waited for a busy pool, not for an unreachable Postgres (pg-pool reports both with the same
 * "timeout exceeded when trying to connect"). Clients still connecting do not count: during an
 * outage the pool fills with those, and that stays a 503. Reads pg's own fields; if they are
 * not there, the answer is false (the 503 as before).
 */
export function poolSaturated(ds: DataSource | undefined): boolean {
  const pool = (ds?.driver as { master?: PgPoolLike } | undefined)?.master;
  const max = pool?.options?.max;
  const clients = pool?._clients;
  if (typeof max !== 'number' || !Array.isArray(clients)) return false;
  const connected = clients.filter((c) => c._connected === true && c._ending !== true).length;
  return connected >= max;
}

export const poolCheckoutTimeout = /timeout exceeded when trying to connect/i;
