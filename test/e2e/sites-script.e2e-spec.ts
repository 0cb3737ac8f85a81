import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * `scripts/sites` up/down twice in a row is clean (no leftover processes, ports or state),
 * repairs a killed node, and never touches a broker on the default ports: the bash test does
 * the checks against its own throw-away instance.
 */
describe('scripts/sites lifecycle', () => {
  it('passes scripts/test-sites.sh', () => {
    const r = spawnSync(join(__dirname, '..', '..', 'scripts', 'test-sites.sh'), {
      encoding: 'utf8',
      timeout: 600000,
    });
    if (r.status !== 0) console.error(`${r.stdout}\n${r.stderr}`.slice(-6000));
    expect(r.status).toBe(0);
  }, 620000);
});
