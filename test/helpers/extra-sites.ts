import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../setup/run-state';
import { loadSites, sitesStatePath, type SitesState } from './sites';

const run = promisify(execFile);

const sitesUp = async (state: SitesState, count: number) => {
  await run(
    join(repoRoot, 'scripts', 'sites'),
    ['up', '--sites', String(count), '--base-port', String(state.basePort), '--dir', state.dir],
    { timeout: 300000, maxBuffer: 4 * 1024 * 1024 },
  );
};

/**
 * At least `count` local sites for one spec. The run starts `CROSSDOCK_TEST_SITES` of them
 * (default 2); a spec that needs more grows the same instance with `scripts/sites up --sites N`
 * (the running sites are left alone; dc3 onwards are single nodes on the block's reserved ports)
 * and `restore` shrinks it back, so the specs after it find the sites as the run started them.
 * The WAN proxy restarts with the new site list both times (its latency and cut settings go).
 */
export async function atLeastSites(
  state: SitesState,
  count: number,
): Promise<{ state: SitesState; restore: () => Promise<void> }> {
  const before = state.sites.length;
  if (before >= count) return { state, restore: async () => undefined };
  await sitesUp(state, count);
  const grown = loadSites(sitesStatePath());
  return { state: grown, restore: () => sitesUp(grown, before) };
}
