import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { SecretBox } from '../common/crypto/secret-box';
import { buildDataSourceOptions, databaseSettingsFromEnv } from '../database/data-source-options';
import { linkUserAad, slotColumns } from './link-user-credentials';
import { clusterIds, lockSealedSecrets, writeSealedColumn } from './clusters.repository';
import { tlsClientKeyAad } from './cluster-tls';

/**
 * Key rotation, step 2: rewrites every stored credential (admin password, both link-user slots,
 * the TLS client key)
 * sealed with a previous key so that the old key can be retired. Row by row under a lock; safe
 * to re-run; prints counts only.
 */
export async function reencryptCredentials(
  ds: DataSource,
  box: SecretBox,
  onlyIds?: string[],
): Promise<{ rewritten: number; total: number }> {
  const ids = await clusterIds(ds, onlyIds);
  let rewritten = 0;
  for (const id of ids) {
    await ds.transaction(async (m) => {
      const row = await lockSealedSecrets(m, id);
      if (!row) return;
      // The admin password and both link-user slots, each with its own associated data.
      const sealed: [string, string | null, string][] = [
        ['admin_password_enc', row.admin_password_enc, id],
        [slotColumns.a.password, row.a, linkUserAad(id, 'a')],
        [slotColumns.b.password, row.b, linkUserAad(id, 'b')],
        ['tls_client_key_enc', row.tls_client_key_enc, tlsClientKeyAad(id)],
      ];
      const stale = sealed.filter(
        (x): x is [string, string, string] => x[1] !== null && box.needsRotation(x[1]),
      );
      if (stale.length === 0) return;
      for (const [column, value, aad] of stale) {
        await writeSealedColumn(m, id, column, box.encrypt(box.decrypt(value, aad), aad));
      }
      rewritten += 1;
    });
  }
  return { rewritten, total: ids.length };
}

if (require.main === module) {
  const key = process.env.CROSSDOCK_ENCRYPTION_KEY;
  if (!key || !process.env.DATABASE_URL) {
    console.error('reencrypt: DATABASE_URL and CROSSDOCK_ENCRYPTION_KEY must be set');
    process.exit(2);
  }
  const box = new SecretBox(
    key,
    (process.env.CROSSDOCK_ENCRYPTION_KEYS_PREVIOUS ?? '').split(',').filter(Boolean),
  );
  const ds = new DataSource(buildDataSourceOptions(databaseSettingsFromEnv(process.env)));
  ds.initialize()
    .then(() => reencryptCredentials(ds, box))
    .then((r) =>
      console.error(
        JSON.stringify({ msg: 'credentials re-encrypted', ...r, keyId: box.currentKeyId }),
      ),
    )
    .catch((err: unknown) => {
      console.error(`reencrypt: failed: ${err instanceof Error ? err.message : 'unknown error'}`);
      process.exitCode = 1;
    })
    .finally(() => void ds.destroy());
}
