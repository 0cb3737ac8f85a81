import type { Client } from 'pg';

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
