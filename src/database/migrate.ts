import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { redactString } from '../common/logging/redact';
import { roleOfUrl, grantServiceRole } from './service-role';
import { buildDataSourceOptions, databaseSettingsFromEnv } from './data-source-options';

/**
 * Runs pending migrations (or reverts the last with `revert`); a separate step from start-up.
 * `url` is the owner role's; with `serviceRole` (the role of DATABASE_URL) the owner then grants
 * that role registry access and append-only audit access (see grantServiceRole).
 */
export async function runMigrations(
  url: string,
  direction: 'up' | 'revert' = 'up',
  serviceRole?: string,
): Promise<string[]> {
  const ds = new DataSource(
    buildDataSourceOptions({
      ...databaseSettingsFromEnv({ DATABASE_URL: url }),
      statementTimeoutMs: 120000,
    }),
  );
  await ds.initialize();
  try {
    if (direction === 'revert') {
      await ds.undoLastMigration({ transaction: 'each' });
      return [];
    }
    const ran = await ds.runMigrations({ transaction: 'each' });
    if (serviceRole) await grantServiceRole(ds, serviceRole);
    return ran.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

if (require.main === module) {
  // DATABASE_MIGRATION_URL: the owner role runs the migrations and grants the service role of
  // DATABASE_URL. Without it, DATABASE_URL's role runs them and owns every table (one role).
  const serviceUrl = process.env.DATABASE_URL;
  const ownerUrl = process.env.DATABASE_MIGRATION_URL || serviceUrl;
  if (!ownerUrl) {
    console.error('migrate: DATABASE_URL (or DATABASE_MIGRATION_URL) is not set');
    process.exit(2);
  }
  const serviceRole =
    process.env.DATABASE_MIGRATION_URL && serviceUrl ? roleOfUrl(serviceUrl) : undefined;
  const direction = process.argv[2] === 'revert' ? 'revert' : 'up';
  runMigrations(ownerUrl, direction, serviceRole)
    .then((names) => {
      console.error(
        JSON.stringify({
          msg: 'migrations done',
          direction,
          applied: names,
          roles: serviceRole ? 'owner + service (audit append-only)' : 'single role',
        }),
      );
    })
    .catch((err: unknown) => {
      console.error(
        `migrate: failed: ${err instanceof Error ? redactString(err.message) : 'unknown error'}`,
      );
      process.exit(1);
    });
}
