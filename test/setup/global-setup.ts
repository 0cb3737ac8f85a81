import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runMigrations } from '../../src/database/migrate';
import { createDatabase, createServiceRole } from '../helpers/postgres';
import { claimPortBlock } from '../helpers/ports';
import { repoRoot, saveRunState, type RunState } from './run-state';

/**
 * A base port whose whole block (3 sites x 100 ports) is free and claimed for this run, so runs
 * side by side (the e2e and soak tiers, several checkouts) never collide.
 */
async function pickBasePort(): Promise<{ base: number; release: () => void }> {
  return claimPortBlock({
    from: 40200,
    to: 59900,
    span: 300,
    probes: [0, 1, 2, 10, 11, 12, 50, 99, 100, 101, 102, 110, 111, 112, 150, 200, 201, 202, 250],
  });
}

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const state: RunState = { startedSites: false };
  if (spawnSync('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432']).status !== 0) {
    execFileSync(join(repoRoot, 'scripts', 'ensure-postgres'), { stdio: 'inherit' });
  }
  if (!existsSync('/usr/sbin/haproxy') || !existsSync('/usr/sbin/keepalived')) {
    execFileSync(join(repoRoot, 'scripts', 'ensure-lb-tools'), { stdio: 'inherit' });
  }
  const db = await createDatabase();
  state.databaseName = db.name;
  saveRunState(state);
  // Two roles, as in production: the owner (the admin here) migrates; the app's role may only
  // insert and read audit rows. Specs that act as the owner use DATABASE_MIGRATION_URL.
  const service = await createServiceRole(db);
  state.serviceRole = service.role;
  saveRunState(state);
  await runMigrations(db.url, 'up', service.role);
  process.env.DATABASE_URL = service.url;
  process.env.DATABASE_MIGRATION_URL = db.url;
  process.env.CROSSDOCK_ENCRYPTION_KEY ??= randomBytes(32).toString('base64');
  process.env.CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN ??= `bootstrap-${randomBytes(24).toString('hex')}`;
  // Specs share one database and create real admin tokens while still using the bootstrap
  // token; the default (refuse once a real admin token exists) has its own spec.
  process.env.CROSSDOCK_BOOTSTRAP_AFTER_ADMIN ??= 'allow';
  process.env.CROSSDOCK_AUDIT_HMAC_KEY ??= randomBytes(32).toString('hex');
  process.env.LOG_LEVEL ??= 'info';
  mkdirSync(join(repoRoot, '.local', 'test-logs'), { recursive: true });
  process.env.CROSSDOCK_TEST_LOG_DIR = join(repoRoot, '.local', 'test-logs', db.name);
  mkdirSync(process.env.CROSSDOCK_TEST_LOG_DIR, { recursive: true });

  if (!process.env.CROSSDOCK_TEST_SITES_STATE) {
    const { base } = await pickBasePort();
    state.portBlock = base;
    const dir = join(repoRoot, '.local', `test-sites-${base}`);
    state.sitesDir = dir;
    state.startedSites = true;
    saveRunState(state);
    execFileSync(
      join(repoRoot, 'scripts', 'sites'),
      [
        'up',
        '--sites',
        process.env.CROSSDOCK_TEST_SITES ?? '2',
        '--base-port',
        String(base),
        '--dir',
        dir,
      ],
      { stdio: 'inherit', timeout: 300000 },
    );
    process.env.CROSSDOCK_TEST_SITES_STATE = join(dir, 'sites.json');
  }
  if (!existsSync(process.env.CROSSDOCK_TEST_SITES_STATE)) {
    throw new Error(
      `global-setup: sites state ${process.env.CROSSDOCK_TEST_SITES_STATE} is missing`,
    );
  }
  console.error(`\nglobal-setup: database ${db.name}, sites ready in ${Date.now() - started} ms`);
}
