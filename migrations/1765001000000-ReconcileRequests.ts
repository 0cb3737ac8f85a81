import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A registry change whose reconcile trigger found the cluster busy (a pass running in this or
 * another replica) leaves a request here; the pass holding the cluster reads and clears it after
 * releasing the lock and runs one follow-up pass, unless the request's newest change was heard
 * (`requested_at`) before that pass started reading the registry.
 */
export class ReconcileRequests1765001000000 implements MigrationInterface {
  name = 'ReconcileRequests1765001000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE reconcile_requests (
        cluster_id uuid PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
        requested_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE reconcile_requests`);
  }
}
