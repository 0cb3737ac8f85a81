import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Append-only audit trail. Rows carry the canonical JSON that was hashed (`payload`) plus
 * indexed copies of the fields queries filter on; triggers refuse UPDATE, DELETE and TRUNCATE
 * for every role (the maintenance command lifts them with session_replication_role, which only
 * a superuser may set; run the service as an ordinary role in production).
 */
export class Audit1763780400000 implements MigrationInterface {
  name = 'Audit1763780400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_events (
        seq bigint PRIMARY KEY,
        occurred_at timestamptz NOT NULL,
        actor_kind varchar(8) NOT NULL,
        actor_id uuid,
        actor_name varchar(100) NOT NULL,
        action varchar(64) NOT NULL,
        resource_type varchar(32) NOT NULL,
        resource_id varchar(64),
        resource_name varchar(255),
        site_ids uuid[] NOT NULL DEFAULT '{}',
        cluster_ids uuid[] NOT NULL DEFAULT '{}',
        request_id varchar(128),
        payload text NOT NULL,
        prev_hash char(64) NOT NULL,
        hash char(64) NOT NULL,
        CONSTRAINT ck_audit_events_actor_kind CHECK (actor_kind IN ('token', 'system'))
      )`);
    await q.query(`CREATE INDEX ix_audit_events_time ON audit_events (occurred_at, seq)`);
    await q.query(
      `CREATE INDEX ix_audit_events_resource ON audit_events (resource_type, resource_id, seq)`,
    );
    await q.query(`CREATE INDEX ix_audit_events_sites ON audit_events USING gin (site_ids)`);
    await q.query(`CREATE INDEX ix_audit_events_clusters ON audit_events USING gin (cluster_ids)`);
    await q.query(
      `CREATE INDEX ix_audit_events_request ON audit_events (request_id) WHERE request_id IS NOT NULL`,
    );
    await q.query(`CREATE INDEX ix_audit_events_actor ON audit_events (actor_name, seq)`);
    await q.query(`CREATE INDEX ix_audit_events_action ON audit_events (action, seq)`);
    await q.query(`
      CREATE TABLE audit_checkpoints (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind varchar(16) NOT NULL,
        seq bigint NOT NULL,
        hash char(64) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        signature char(64) NOT NULL,
        note text NOT NULL DEFAULT '',
        CONSTRAINT ck_audit_checkpoints_kind CHECK (kind IN ('head', 'prune'))
      )`);
    await q.query(`CREATE INDEX ix_audit_checkpoints_seq ON audit_checkpoints (seq)`);
    await q.query(`
      CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit tables are append-only (% refused)', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    for (const table of ['audit_events', 'audit_checkpoints']) {
      await q.query(`
        CREATE TRIGGER tr_${table}_no_change BEFORE UPDATE OR DELETE ON ${table}
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()`);
      await q.query(`
        CREATE TRIGGER tr_${table}_no_truncate BEFORE TRUNCATE ON ${table}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_checkpoints`);
    await q.query(`DROP TABLE audit_events`);
    await q.query(`DROP FUNCTION audit_append_only()`);
  }
}
