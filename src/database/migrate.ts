import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { redactString } from '../common/logging/redact';
import { buildDataSourceOptions, databaseSettingsFromEnv } from './data-source-options';

/** Runs pending migrations (or reverts the last with `revert`); a separate step from start-up. */
export async function runMigrations(
  url: string,
  direction: 'up' | 'revert' = 'up',
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
    return ran.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

if (require.main === module) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('migrate: DATABASE_URL is not set');
    process.exit(2);
  }
  const direction = process.argv[2] === 'revert' ? 'revert' : 'up';
  runMigrations(url, direction)
    .then((names) => {
      console.error(JSON.stringify({ msg: 'migrations done', direction, applied: names }));
    })
    .catch((err: unknown) => {
      console.error(
        `migrate: failed: ${err instanceof Error ? redactString(err.message) : 'unknown error'}`,
      );
      process.exit(1);
    });
}
