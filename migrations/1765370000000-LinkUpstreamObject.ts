import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The exchange or queue a federation link pulls from on the upstream cluster when it is not named
 * like the downstream one (upstream keys `exchange` / `queue`); null: the same name. Deleted
 * exchange links keep it in their backlog cleanup, whose upstream queue is named after it.
 */
export class LinkUpstreamObject1765370000000 implements MigrationInterface {
  name = 'LinkUpstreamObject1765370000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE federation_links ADD COLUMN upstream_object varchar(255)`);
    await q.query(`ALTER TABLE federation_link_cleanups ADD COLUMN upstream_object varchar(255)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE federation_link_cleanups DROP COLUMN upstream_object`);
    await q.query(`ALTER TABLE federation_links DROP COLUMN upstream_object`);
  }
}
