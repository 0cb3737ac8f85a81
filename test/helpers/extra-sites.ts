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

export interface TlsLocalSite {
  tls: { serverName: string; caFile: string; certFile: string; keyFile: string };
  tlsLink: { host: string; port: number };
  nodes: { amqpsPort: number; managementTlsPort: number }[];
}

/**
 * A separate instance of `count` sites started with `scripts/sites up --tls` (a CA, per-site
 * certificates valid `certDays` days, AMQPS and management https beside the plain listeners, a
 * TLS link per site through its own WAN proxy), on a free port block; `down` removes it.
 */
export async function tlsSites(
  count: number,
  certDays = 365,
): Promise<{
  state: SitesState;
  down: () => Promise<void>;
  run: (...args: string[]) => Promise<void>;
}> {
  const external = process.env.CROSSDOCK_TEST_TLS_SITES_STATE;
  if (external) {
    // A running `up --tls` instance of at least `count` sites (kept running; only certificates
    // are reissued through `run`).
    const state = loadSites(external);
    if (state.sites.length < count)
      throw new Error(`tlsSites: ${external} has ${state.sites.length} sites, ${count} needed`);
    const script = join(repoRoot, 'scripts', 'sites');
    return {
      state,
      down: async () => undefined,
      run: (...args: string[]) => runScript(script, [...args, '--dir', state.dir]),
    };
  }
  const { claimPortBlock } = await import('./ports');
  const block = await claimPortBlock({
    from: 30000,
    to: 39900,
    span: 300,
    probes: [
      0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 50, 51, 99, 100, 101, 103, 104, 150, 151, 200, 203, 250,
      251,
    ],
  });
  const base = block.base;
  const dir = join(repoRoot, '.local', `test-tls-sites-${base}`);
  const script = join(repoRoot, 'scripts', 'sites');
  await runScript(script, [
    'up',
    '--tls',
    '--sites',
    String(count),
    '--cert-days',
    String(certDays),
    '--base-port',
    String(base),
    '--dir',
    dir,
  ]);
  return {
    state: loadSites(join(dir, 'sites.json')),
    down: async () => {
      await runScript(script, ['down', '--dir', dir]);
      block.release();
    },
    run: (...args: string[]) => runScript(script, [...args, '--dir', dir]),
  };
}

async function runScript(script: string, args: string[]): Promise<void> {
  await run(script, args, { timeout: 400000, maxBuffer: 4 * 1024 * 1024 });
}
