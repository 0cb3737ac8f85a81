import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The name of a federation link's upstream parameter on the broker when it is not crossdock's
 * own `crossdock.up.<link>`: a link adopted by the definitions import keeps the hand-made
 * upstream's name, so the reconciler updates that upstream in place (a real change restarts the
 * link seamlessly) instead of starting a fresh link beside it (which drops publishes for an
 * instant). Unique per downstream cluster and vhost.
 */
export class LinkBrokerUpstreamName1763800000000 implements MigrationInterface {
  name = 'LinkBrokerUpstreamName1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE federation_links ADD COLUMN broker_upstream_name varchar(255)`);
    await q.query(
      `CREATE UNIQUE INDEX uq_federation_links_broker_upstream ON federation_links (downstream_cluster_id, downstream_vhost, broker_upstream_name) WHERE broker_upstream_name IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX uq_federation_links_broker_upstream`);
    await q.query(`ALTER TABLE federation_links DROP COLUMN broker_upstream_name`);
  }
}
