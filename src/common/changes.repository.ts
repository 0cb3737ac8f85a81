import type { EntityManager } from 'typeorm';

/** The SQL of change notifications (the caller's transaction: NOTIFY is delivered on COMMIT). */

type Queryable = Pick<EntityManager, 'query'>;

export async function notifyChannel(m: Queryable, channel: string, payload: string): Promise<void> {
  await m.query(`SELECT pg_notify($1, $2)`, [channel, payload]);
}

export async function allClusterIds(m: Queryable): Promise<string[]> {
  const all = await m.query<{ id: string }[]>(`SELECT id FROM clusters`);
  return all.map((c) => c.id);
}
