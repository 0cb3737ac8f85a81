import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-cluster TLS settings: CA bundle, server name, client certificate and the broker-side file
 * paths link URIs name (jsonb, public material only), and the client key, encrypted like the
 * other secrets.
 */
export class ClusterTls1765350000000 implements MigrationInterface {
  name = 'ClusterTls1765350000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE clusters ADD COLUMN tls jsonb, ADD COLUMN tls_client_key_enc text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE clusters DROP COLUMN tls_client_key_enc, DROP COLUMN tls`);
  }
}
