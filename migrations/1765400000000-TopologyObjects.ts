import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Exchanges, queues and bindings declared through crossdock, one row per object of one cluster
 * and vhost (`definition` holds the kind's model). `managed_objects.ensure_only` says whether an
 * owned exchange or queue may be deleted once nobody wants it: false only for a declared object
 * whose resource was deleted with the deletion policy `delete`.
 */
export class TopologyObjects1765400000000 implements MigrationInterface {
  name = 'TopologyObjects1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE topology_objects (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        cluster_id uuid NOT NULL,
        kind varchar(16) NOT NULL,
        vhost varchar(255) NOT NULL,
        name text NOT NULL,
        definition jsonb NOT NULL,
        deletion_policy varchar(16) NOT NULL DEFAULT 'retain',
        version int NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_topology_objects_seq UNIQUE (seq),
        CONSTRAINT uq_topology_objects_name UNIQUE (cluster_id, kind, vhost, name),
        CONSTRAINT ck_topology_objects_kind CHECK (kind IN ('exchange', 'queue', 'binding')),
        CONSTRAINT ck_topology_objects_deletion CHECK (deletion_policy IN ('retain', 'delete')),
        CONSTRAINT fk_topology_objects_cluster FOREIGN KEY (cluster_id) REFERENCES clusters(id) ON DELETE RESTRICT
      )`);
    await q.query(
      `CREATE INDEX ix_topology_objects_cluster ON topology_objects (cluster_id, kind, seq)`,
    );
    await q.query(`ALTER TABLE managed_objects ADD COLUMN ensure_only boolean`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE managed_objects DROP COLUMN ensure_only`);
    await q.query(`DROP TABLE topology_objects`);
  }
}
