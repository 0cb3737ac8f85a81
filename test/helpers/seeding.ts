import type { Client } from 'pg';
import type TestAgent from 'supertest/lib/agent';
import { bearer, bootstrapToken } from './api';

/** Runs `fn` over `items`, `width` at a time. */
export async function inParallel<T>(
  items: T[],
  width: number,
  fn: (x: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/**
 * POST /policies, retried on 503 (the database briefly too slow on a loaded machine: the answer
 * the API gives then, by design) up to 5 times; anything else but 201 fails the test.
 */
export async function createPolicy(
  http: TestAgent,
  body: Record<string, unknown>,
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const res = await http.post('/policies').set(bearer(bootstrapToken())).send(body);
    if (res.status === 201) return res.body.id as string;
    if (res.status !== 503 || attempt >= 5)
      throw new Error(`POST /policies ${String(body.name)}: ${res.status} ${res.text}`);
    await new Promise((r) => setTimeout(r, 500 * attempt));
  }
}

/**
 * Inserts `names.length` cluster-scoped queue policies straight into the registry table, one
 * statement: a registry large enough for a long apply, without the minutes hundreds of
 * validated POST /policies take on a loaded CI machine (the API path has its own tests). Direct
 * inserts notify nobody: passes start on schedule or on demand. Pattern `^<name>\.`, so none
 * overlap.
 */
export async function seedPolicies(
  pg: Client,
  clusterId: string,
  vhost: string,
  names: string[],
  definition: Record<string, unknown>,
): Promise<void> {
  await pg.query(
    `INSERT INTO policies (name, scope, cluster_id, vhost, pattern, apply_to, definition)
     SELECT n, 'cluster', $1, $2, '^' || n || '\\.', 'queues', $4::jsonb FROM unnest($3::text[]) AS n`,
    [clusterId, vhost, names, JSON.stringify(definition)],
  );
}
