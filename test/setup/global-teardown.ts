import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { dropDatabase } from '../helpers/postgres';
import { loadRunState, repoRoot } from './run-state';

export default async function globalTeardown(): Promise<void> {
  const state = loadRunState();
  if (state.startedSites && state.sitesDir && !process.env.CROSSDOCK_TEST_KEEP_SITES) {
    execFileSync(join(repoRoot, 'scripts', 'sites'), ['down', '--dir', state.sitesDir], {
      stdio: 'inherit',
      timeout: 120000,
    });
  }
  if (state.databaseName && !process.env.CROSSDOCK_TEST_KEEP_DB)
    await dropDatabase(state.databaseName);
}
