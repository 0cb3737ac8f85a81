import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Deleted exchange-federation links whose WAN backlog (the `federation: ...` queue and its
 * internal exchange on the upstream cluster, kept by `resource-cleanup-mode: never`) crossdock
 * still has to delete: the upstream cluster's pass deletes them once the downstream cluster no
 * longer runs the link. A row goes away with either cluster (its queues become plain orphans).
 */
export class LinkCleanups1763788200000 implements MigrationInterface {
  name = 'LinkCleanups1763788200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE federation_link_cleanups (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        link_id uuid NOT NULL,
        link_name varchar(63) NOT NULL,
        upstream_cluster_id uuid NOT NULL,
        upstream_vhost varchar(255) NOT NULL,
        downstream_cluster_id uuid NOT NULL,
        downstream_vhost varchar(255) NOT NULL,
        downstream_cluster_name varchar(255) NOT NULL,
        targets text[] NOT NULL DEFAULT '{}',
        target_prefix varchar(255),
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT uq_federation_link_cleanups_link UNIQUE (link_id),
        CONSTRAINT fk_federation_link_cleanups_upstream FOREIGN KEY (upstream_cluster_id) REFERENCES clusters(id) ON DELETE CASCADE,
        CONSTRAINT fk_federation_link_cleanups_downstream FOREIGN KEY (downstream_cluster_id) REFERENCES clusters(id) ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE INDEX ix_federation_link_cleanups_upstream ON federation_link_cleanups (upstream_cluster_id)`,
    );
    await q.query(
      `CREATE INDEX ix_federation_link_cleanups_downstream ON federation_link_cleanups (downstream_cluster_id)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE federation_link_cleanups`);
  }
}
