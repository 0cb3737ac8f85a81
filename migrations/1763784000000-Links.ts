import { MigrationInterface, QueryRunner } from 'typeorm';

/** Cross-site links, policies, the ownership ledger and reconcile runs. */
export class Links1763784000000 implements MigrationInterface {
  name = 'Links1763784000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE clusters
        ADD COLUMN reconcile_suspended boolean NOT NULL DEFAULT false,
        ADD COLUMN link_user_password_enc text,
        ADD COLUMN link_user_salt varchar(16)`);
    await q.query(`
      ALTER TABLE sites ADD COLUMN reconcile_suspended boolean NOT NULL DEFAULT false`);
    await q.query(`
      CREATE TABLE federation_links (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        name varchar(63) NOT NULL,
        kind varchar(8) NOT NULL,
        downstream_cluster_id uuid NOT NULL,
        downstream_vhost varchar(255) NOT NULL,
        upstream_cluster_id uuid NOT NULL,
        upstream_vhost varchar(255) NOT NULL,
        targets text[] NOT NULL DEFAULT '{}',
        target_prefix varchar(255),
        settings jsonb NOT NULL DEFAULT '{}',
        paused boolean NOT NULL DEFAULT false,
        deletion_policy varchar(8) NOT NULL DEFAULT 'delete',
        generation integer NOT NULL DEFAULT 1,
        applied_generation integer NOT NULL DEFAULT 0,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_federation_links_seq UNIQUE (seq),
        CONSTRAINT uq_federation_links_name UNIQUE (name),
        CONSTRAINT ck_federation_links_kind CHECK (kind IN ('exchange', 'queue')),
        CONSTRAINT ck_federation_links_deletion CHECK (deletion_policy IN ('delete', 'retain')),
        CONSTRAINT ck_federation_links_distinct CHECK (downstream_cluster_id <> upstream_cluster_id),
        CONSTRAINT ck_federation_links_targets CHECK ((cardinality(targets) > 0) <> (target_prefix IS NOT NULL)),
        CONSTRAINT fk_federation_links_downstream FOREIGN KEY (downstream_cluster_id) REFERENCES clusters(id) ON DELETE RESTRICT,
        CONSTRAINT fk_federation_links_upstream FOREIGN KEY (upstream_cluster_id) REFERENCES clusters(id) ON DELETE RESTRICT
      )`);
    await q.query(
      `CREATE INDEX ix_federation_links_downstream ON federation_links (downstream_cluster_id)`,
    );
    await q.query(
      `CREATE INDEX ix_federation_links_upstream ON federation_links (upstream_cluster_id)`,
    );
    await q.query(`
      CREATE TABLE shovels (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        name varchar(63) NOT NULL,
        source_cluster_id uuid NOT NULL,
        source_vhost varchar(255) NOT NULL,
        source_queue varchar(255),
        source_exchange varchar(255),
        source_exchange_key varchar(255),
        destination_cluster_id uuid NOT NULL,
        destination_vhost varchar(255) NOT NULL,
        destination_queue varchar(255),
        destination_exchange varchar(255),
        destination_exchange_key varchar(255),
        settings jsonb NOT NULL DEFAULT '{}',
        paused boolean NOT NULL DEFAULT false,
        deletion_policy varchar(8) NOT NULL DEFAULT 'delete',
        generation integer NOT NULL DEFAULT 1,
        applied_generation integer NOT NULL DEFAULT 0,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_shovels_seq UNIQUE (seq),
        CONSTRAINT uq_shovels_name UNIQUE (name),
        CONSTRAINT ck_shovels_deletion CHECK (deletion_policy IN ('delete', 'retain')),
        CONSTRAINT ck_shovels_source CHECK ((source_queue IS NULL) <> (source_exchange IS NULL)),
        CONSTRAINT ck_shovels_destination CHECK (NOT (destination_queue IS NOT NULL AND destination_exchange IS NOT NULL)),
        CONSTRAINT fk_shovels_source FOREIGN KEY (source_cluster_id) REFERENCES clusters(id) ON DELETE RESTRICT,
        CONSTRAINT fk_shovels_destination FOREIGN KEY (destination_cluster_id) REFERENCES clusters(id) ON DELETE RESTRICT
      )`);
    await q.query(`CREATE INDEX ix_shovels_source ON shovels (source_cluster_id)`);
    await q.query(`CREATE INDEX ix_shovels_destination ON shovels (destination_cluster_id)`);
    await q.query(`
      CREATE TABLE policies (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        name varchar(63) NOT NULL,
        scope varchar(8) NOT NULL,
        cluster_id uuid,
        site_id uuid,
        vhost varchar(255) NOT NULL,
        pattern varchar(255) NOT NULL,
        apply_to varchar(9) NOT NULL,
        priority integer NOT NULL DEFAULT 0,
        definition jsonb NOT NULL,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_policies_seq UNIQUE (seq),
        CONSTRAINT uq_policies_name UNIQUE (name),
        CONSTRAINT ck_policies_scope CHECK (
          (scope = 'cluster' AND cluster_id IS NOT NULL AND site_id IS NULL) OR
          (scope = 'site' AND site_id IS NOT NULL AND cluster_id IS NULL) OR
          (scope = 'global' AND site_id IS NULL AND cluster_id IS NULL)),
        CONSTRAINT ck_policies_apply_to CHECK (apply_to IN ('queues', 'exchanges')),
        CONSTRAINT fk_policies_cluster FOREIGN KEY (cluster_id) REFERENCES clusters(id) ON DELETE RESTRICT,
        CONSTRAINT fk_policies_site FOREIGN KEY (site_id) REFERENCES sites(id) ON DELETE RESTRICT
      )`);
    await q.query(`
      CREATE TABLE managed_objects (
        cluster_id uuid NOT NULL,
        kind varchar(32) NOT NULL,
        vhost varchar(255) NOT NULL,
        name text NOT NULL,
        owner varchar(80) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_managed_objects PRIMARY KEY (cluster_id, kind, vhost, name),
        CONSTRAINT fk_managed_objects_cluster FOREIGN KEY (cluster_id) REFERENCES clusters(id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX ix_managed_objects_owner ON managed_objects (owner)`);
    await q.query(`
      CREATE TABLE reconcile_runs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        cluster_id uuid NOT NULL,
        trigger varchar(16) NOT NULL,
        instance_id varchar(64) NOT NULL,
        dry_run boolean NOT NULL DEFAULT false,
        status varchar(16) NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        apply_started_at timestamptz,
        apply_finished_at timestamptz,
        request_id varchar(128),
        summary jsonb NOT NULL DEFAULT '{}',
        operations jsonb NOT NULL DEFAULT '[]',
        findings jsonb NOT NULL DEFAULT '[]',
        error text,
        CONSTRAINT uq_reconcile_runs_seq UNIQUE (seq),
        CONSTRAINT fk_reconcile_runs_cluster FOREIGN KEY (cluster_id) REFERENCES clusters(id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX ix_reconcile_runs_cluster ON reconcile_runs (cluster_id, seq)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE reconcile_runs`);
    await q.query(`DROP TABLE managed_objects`);
    await q.query(`DROP TABLE policies`);
    await q.query(`DROP TABLE shovels`);
    await q.query(`DROP TABLE federation_links`);
    await q.query(`ALTER TABLE sites DROP COLUMN reconcile_suspended`);
    await q.query(
      `ALTER TABLE clusters DROP COLUMN reconcile_suspended, DROP COLUMN link_user_password_enc, DROP COLUMN link_user_salt`,
    );
  }
}
