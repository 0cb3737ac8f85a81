import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { databaseUrl, dropDatabase, dropRole } from '../helpers/postgres';
import { releasePortBlock } from '../helpers/ports';
import { scanSuite, type Finding } from '../helpers/secret-scan';
import { loadRunState, repoRoot } from './run-state';

/**
 * Scans the run for leaked secrets (CROSSDOCK_TEST_SECRET_SCAN=off skips it), removes what
 * global setup created, then fails the run if the scan found anything.
 */
export default async function globalTeardown(): Promise<void> {
  const state = loadRunState();
  let findings: Finding[] = [];
  let scanError: unknown;
  if (state.databaseName && process.env.CROSSDOCK_TEST_SECRET_SCAN !== 'off') {
    const started = Date.now();
    try {
      const logDir = process.env.CROSSDOCK_TEST_LOG_DIR;
      findings = await scanSuite(databaseUrl(state.databaseName), logDir ? [logDir] : []);
      console.error(
        `global-teardown: secret scan ${findings.length ? 'FOUND LEAKS' : 'clean'} in ${Date.now() - started} ms`,
      );
    } catch (err) {
      scanError = err;
    }
  }
  try {
    if (state.startedSites && state.sitesDir && !process.env.CROSSDOCK_TEST_KEEP_SITES) {
      execFileSync(join(repoRoot, 'scripts', 'sites'), ['down', '--dir', state.sitesDir], {
        stdio: 'inherit',
        timeout: 120000,
      });
    }
  } finally {
    if (state.portBlock !== undefined && !process.env.CROSSDOCK_TEST_KEEP_SITES) {
      releasePortBlock(state.portBlock);
    }
    if (state.databaseName && !process.env.CROSSDOCK_TEST_KEEP_DB) {
      await dropDatabase(state.databaseName);
      if (state.serviceRole) await dropRole(state.serviceRole);
    }
  }
  if (scanError) throw scanError;
  if (findings.length) {
    const report = join(repoRoot, '.local', `secret-scan-${state.databaseName}.json`);
    writeFileSync(report, JSON.stringify(findings, null, 2));
    throw new Error(
      `secret scan: ${findings.length} leak(s) (${report}):\n${findings
        .slice(0, 20)
        .map((f) => `  ${f.secret} in ${f.where}`)
        .join('\n')}`,
    );
  }
}
