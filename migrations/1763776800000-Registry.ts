import { MigrationInterface, QueryRunner } from 'typeorm';

/** Topology registry: sites, clusters, nodes, API tokens. */
export class Registry1763776800000 implements MigrationInterface {
  name = 'Registry1763776800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE sites (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        name varchar(63) NOT NULL,
        region varchar(64) NOT NULL,
        description text NOT NULL DEFAULT '',
        load_balancer_host varchar(253),
        load_balancer_port integer,
        expected_rtt_ms integer NOT NULL DEFAULT 50,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_sites_name UNIQUE (name),
        CONSTRAINT uq_sites_seq UNIQUE (seq),
        CONSTRAINT ck_sites_lb CHECK ((load_balancer_host IS NULL) = (load_balancer_port IS NULL))
      )`);
    await q.query(`
      CREATE TABLE clusters (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        site_id uuid NOT NULL,
        name varchar(63) NOT NULL,
        broker_cluster_name varchar(255) NOT NULL,
        management_scheme varchar(5) NOT NULL DEFAULT 'http',
        link_endpoints jsonb NOT NULL DEFAULT '[]',
        vhosts text[] NOT NULL DEFAULT '{}',
        admin_username varchar(255) NOT NULL,
        admin_password_enc text NOT NULL,
        credentials_version integer NOT NULL DEFAULT 1,
        replication jsonb NOT NULL DEFAULT '[]',
        partition_handling varchar(32) NOT NULL DEFAULT 'pause_minority',
        last_observation jsonb,
        observed_at timestamptz,
        broker_version varchar(32),
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_clusters_seq UNIQUE (seq),
        CONSTRAINT uq_clusters_site_name UNIQUE (site_id, name),
        CONSTRAINT uq_clusters_broker_cluster_name UNIQUE (broker_cluster_name),
        CONSTRAINT fk_clusters_site FOREIGN KEY (site_id) REFERENCES sites(id) ON DELETE RESTRICT
      )`);
    await q.query(`CREATE INDEX ix_clusters_site ON clusters (site_id)`);
    await q.query(`
      CREATE TABLE nodes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        cluster_id uuid NOT NULL,
        name varchar(255) NOT NULL,
        host varchar(253) NOT NULL,
        amqp_port integer NOT NULL,
        management_port integer NOT NULL,
        type varchar(4) NOT NULL DEFAULT 'disc',
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_nodes_seq UNIQUE (seq),
        CONSTRAINT uq_nodes_cluster_name UNIQUE (cluster_id, name),
        CONSTRAINT ck_nodes_type CHECK (type IN ('disc', 'ram')),
        CONSTRAINT fk_nodes_cluster FOREIGN KEY (cluster_id) REFERENCES clusters(id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX ix_nodes_cluster ON nodes (cluster_id)`);
    // A cluster with nodes keeps at least one disc node: checked at commit by the database, so
    // two concurrent requests cannot each remove "the other" disc node.
    await q.query(`
      CREATE FUNCTION nodes_keep_disc() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE cid uuid;
      BEGIN
        cid := COALESCE(OLD.cluster_id, NEW.cluster_id);
        IF EXISTS (SELECT 1 FROM clusters WHERE id = cid)
           AND EXISTS (SELECT 1 FROM nodes WHERE cluster_id = cid)
           AND NOT EXISTS (SELECT 1 FROM nodes WHERE cluster_id = cid AND type = 'disc') THEN
          RAISE EXCEPTION 'cluster must keep at least one disc node'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_nodes_keep_disc';
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE CONSTRAINT TRIGGER tr_nodes_keep_disc AFTER INSERT OR UPDATE OR DELETE ON nodes
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION nodes_keep_disc()`);
    await q.query(`
      CREATE TABLE api_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        name varchar(100) NOT NULL,
        role varchar(16) NOT NULL,
        token_hash bytea NOT NULL,
        prefix varchar(16) NOT NULL,
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_api_tokens_seq UNIQUE (seq),
        CONSTRAINT uq_api_tokens_name UNIQUE (name),
        CONSTRAINT uq_api_tokens_hash UNIQUE (token_hash),
        CONSTRAINT ck_api_tokens_role CHECK (role IN ('viewer', 'operator', 'admin'))
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE api_tokens`);
    await q.query(`DROP TRIGGER tr_nodes_keep_disc ON nodes`);
    await q.query(`DROP FUNCTION nodes_keep_disc()`);
    await q.query(`DROP TABLE nodes`);
    await q.query(`DROP TABLE clusters`);
    await q.query(`DROP TABLE sites`);
  }
}
