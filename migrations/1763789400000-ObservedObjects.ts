import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The exchange and queue names a reconcile pass last observed on a cluster, per managed vhost:
 * registry validation decides which user patterns overlap on the objects known to exist.
 * `objects_observed_at` is when the stored names last changed.
 */
export class ObservedObjects1763789400000 implements MigrationInterface {
  name = 'ObservedObjects1763789400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE clusters
        ADD COLUMN observed_objects jsonb,
        ADD COLUMN objects_observed_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE clusters DROP COLUMN observed_objects, DROP COLUMN objects_observed_at`,
    );
  }
}
