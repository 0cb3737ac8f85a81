import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The endpoints a cluster's admin credentials were entered for (`<scheme> <host> <port>` per
 * management listener, `amqp <host> <port>` per AMQP listener). The stored credentials are used
 * only while every node endpoint is in this set. Existing clusters are bound to the endpoints
 * they have now; a row that never had credentials entered (empty set) is used by nobody.
 */
export class CredentialsEndpoints1765004000000 implements MigrationInterface {
  name = 'CredentialsEndpoints1765004000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE clusters ADD COLUMN credentials_endpoints text[] NOT NULL DEFAULT '{}'`,
    );
    await q.query(
      `UPDATE clusters c SET credentials_endpoints = ARRAY(
         SELECT e FROM nodes n,
           LATERAL (VALUES (c.management_scheme || ' ' || n.host || ' ' || n.management_port),
                           ('amqp ' || n.host || ' ' || n.amqp_port)) AS v(e)
         WHERE n.cluster_id = c.id ORDER BY 1)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE clusters DROP COLUMN credentials_endpoints`);
  }
}
