import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Link-user password rotation without breaking links: two alternating link users per cluster
 * (slot a `<LINK_USER_NAME>`, the existing columns; slot b `<LINK_USER_NAME>-b`), the slot other
 * clusters' URIs use, and one row per rotation recording its progress. At most one rotation of a
 * cluster is unfinished at a time. `refresh_*`: crossdock objects (upstreams, shovels) whose
 * running link still logs in with the previous user although the new value is stored; the
 * connecting cluster's pass re-creates them.
 */
export class LinkUserRotation1763788800000 implements MigrationInterface {
  name = 'LinkUserRotation1763788800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE clusters
        ADD COLUMN link_user_slot char(1) NOT NULL DEFAULT 'a',
        ADD COLUMN link_user_b_password_enc text,
        ADD COLUMN link_user_b_salt varchar(16),
        ADD CONSTRAINT ck_clusters_link_user_slot CHECK (link_user_slot IN ('a', 'b'))`);
    await q.query(`
      CREATE TABLE link_user_rotations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        cluster_id uuid NOT NULL,
        from_slot char(1) NOT NULL,
        to_slot char(1) NOT NULL,
        from_username varchar(80) NOT NULL,
        to_username varchar(80) NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'verifying',
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        applied_by uuid[] NOT NULL DEFAULT '{}',
        refresh_requested text[] NOT NULL DEFAULT '{}',
        refresh_pending text[] NOT NULL DEFAULT '{}',
        refresh_requested_at timestamptz,
        requested_by varchar(100),
        created_at timestamptz NOT NULL DEFAULT now(),
        verified_at timestamptz,
        switched_at timestamptz,
        completed_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_link_user_rotations_seq UNIQUE (seq),
        CONSTRAINT ck_link_user_rotations_status CHECK (status IN ('verifying', 'switching', 'completed')),
        CONSTRAINT ck_link_user_rotations_slots CHECK (from_slot IN ('a', 'b') AND to_slot IN ('a', 'b') AND from_slot <> to_slot),
        CONSTRAINT fk_link_user_rotations_cluster FOREIGN KEY (cluster_id) REFERENCES clusters(id) ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE UNIQUE INDEX uq_link_user_rotations_unfinished ON link_user_rotations (cluster_id) WHERE status <> 'completed'`,
    );
    await q.query(
      `CREATE INDEX ix_link_user_rotations_cluster ON link_user_rotations (cluster_id, seq)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE link_user_rotations`);
    await q.query(
      `ALTER TABLE clusters DROP CONSTRAINT ck_clusters_link_user_slot, DROP COLUMN link_user_slot, DROP COLUMN link_user_b_password_enc, DROP COLUMN link_user_b_salt`,
    );
  }
}
