import { MigrationInterface, QueryRunner } from 'typeorm';

/** A site's load balancer (HAProxy + keepalived), rendered into configuration files. */
export class SiteLoadBalancers1765008000000 implements MigrationInterface {
  name = 'SiteLoadBalancers1765008000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE site_load_balancers (
        site_id uuid PRIMARY KEY,
        cluster_id uuid,
        spec jsonb NOT NULL,
        haproxy_etag varchar(64),
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT fk_site_load_balancers_site FOREIGN KEY (site_id) REFERENCES sites(id) ON DELETE CASCADE,
        CONSTRAINT fk_site_load_balancers_cluster FOREIGN KEY (cluster_id) REFERENCES clusters(id) ON DELETE SET NULL
      )`);
    await q.query(
      `CREATE INDEX ix_site_load_balancers_cluster ON site_load_balancers (cluster_id)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE site_load_balancers`);
  }
}
