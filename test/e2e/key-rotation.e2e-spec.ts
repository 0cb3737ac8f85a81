import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { linkUserAad } from '../../src/clusters/link-user-credentials';
import { reencryptCredentials } from '../../src/clusters/reencrypt';
import { SecretBox } from '../../src/common/crypto/secret-box';
import {
  buildDataSourceOptions,
  databaseSettingsFromEnv,
} from '../../src/database/data-source-options';
import { bearer, bootstrapToken, clusterBody, uniqueName } from '../helpers/api';
import { createTestApp } from '../helpers/app';

describe('encryption key rotation', () => {
  it('keeps credentials readable across a rotation and re-encrypts them with the new key', async () => {
    const oldKey = process.env.CROSSDOCK_ENCRYPTION_KEY as string;
    const newKey = randomBytes(32).toString('base64');
    const admin = bearer(bootstrapToken());

    const before = await createTestApp();
    const site = await before.http
      .post('/sites')
      .set(admin)
      .send({ name: uniqueName('rot'), region: 'r' })
      .expect(201);
    const cluster = await before.http
      .post('/clusters')
      .set(admin)
      .send(clusterBody(site.body.id))
      .expect(201);
    await before.close();

    const rotated = await createTestApp({
      CROSSDOCK_ENCRYPTION_KEY: newKey,
      CROSSDOCK_ENCRYPTION_KEYS_PREVIOUS: oldKey,
    });
    try {
      const { ClustersService } = await import('../../src/clusters/clusters.service');
      const svc = rotated.app.get(ClustersService);
      expect((await svc.access(cluster.body.id)).password).toBe('Sup3r-S3cret-Pa55');

      const ds = new DataSource(buildDataSourceOptions(databaseSettingsFromEnv(process.env)));
      await ds.initialize();
      try {
        const box = new SecretBox(newKey, [oldKey]);
        // A link-user password sealed with the old key (slot b, as a rotation leaves it).
        await ds.query(
          `UPDATE clusters SET link_user_b_password_enc = $2, link_user_b_salt = 'abcd1234' WHERE id = $1`,
          [
            cluster.body.id,
            new SecretBox(oldKey).encrypt('link-pass', linkUserAad(cluster.body.id, 'b')),
          ],
        );
        const first = await reencryptCredentials(ds, box, [cluster.body.id]);
        expect(first).toEqual({ rewritten: 1, total: 1 });
        const [row] = await ds.query(`SELECT admin_password_enc FROM clusters WHERE id = $1`, [
          cluster.body.id,
        ]);
        expect(box.needsRotation(row.admin_password_enc)).toBe(false);
        expect(row.admin_password_enc).not.toContain('Sup3r');
        const [link] = await ds.query(
          `SELECT link_user_b_password_enc AS enc FROM clusters WHERE id = $1`,
          [cluster.body.id],
        );
        expect(new SecretBox(newKey).decrypt(link.enc, linkUserAad(cluster.body.id, 'b'))).toBe(
          'link-pass',
        );
        expect((await reencryptCredentials(ds, box, [cluster.body.id])).rewritten).toBe(0);
        // The old key can now be retired.
        expect(new SecretBox(newKey).decrypt(row.admin_password_enc, cluster.body.id)).toBe(
          'Sup3r-S3cret-Pa55',
        );
      } finally {
        await ds.destroy();
      }
    } finally {
      await rotated.close();
    }
  });
});
