/**
 * Local RabbitMQ sites for benchmarks: use a running `scripts/sites` instance (state file from
 * CROSSDOCK_SITES_STATE, else `.local/dev-sites/sites.json` when it answers), or start a private
 * one on a free port block under `.local/bench-sites` and stop it afterwards. Never the system
 * broker on the default ports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isPortFree } from '../../test/helpers/ports';
import { loadSites, type SitesState } from '../../test/helpers/sites';

const root = join(__dirname, '..', '..');
const sitesScript = join(root, 'scripts', 'sites');
export const benchSitesDir = join(root, '.local', 'bench-sites');
const defaultStatePath = join(root, '.local', 'dev-sites', 'sites.json');

/** The system broker's ports (AMQP, management, distribution): never used here. */
const defaultBrokerPorts = new Set([5672, 15672, 25672]);

export interface AcquiredSites {
  state: SitesState;
  statePath: string;
  /** Started by this process (and stopped by `release`). */
  started: boolean;
  /** Stops the sites if this process started them; idempotent. */
  release(): void;
}

function assertNotDefaultBroker(state: SitesState, path: string): void {
  for (const s of state.sites) {
    for (const n of s.nodes) {
      if (defaultBrokerPorts.has(n.amqpPort) || defaultBrokerPorts.has(n.managementPort)) {
        throw new Error(`bench: ${path} points at the default broker ports; refusing to use it`);
      }
    }
    if (defaultBrokerPorts.has(s.link.port)) {
      throw new Error(`bench: ${path} points at the default broker ports; refusing to use it`);
    }
  }
}

/** dc1's first node answers GET /api/overview with the admin credentials. */
async function answers(state: SitesState): Promise<boolean> {
  const node = state.sites[0]?.nodes[0];
  if (!node) return false;
  const auth = Buffer.from(`${state.admin.username}:${state.admin.password}`).toString('base64');
  try {
    const res = await fetch(`http://${node.host}:${node.managementPort}/api/overview`, {
      headers: { authorization: `Basic ${auth}` },
      signal: AbortSignal.timeout(3000),
    });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** A base port whose block for two sites (as scripts/sites lays it out) is free. */
async function pickBasePort(): Promise<number> {
  // Nodes, site links, the WAN proxy's control port and rabbitmqctl's listeners (P+70..P+89).
  const probes = [0, 1, 2, 10, 11, 12, 50, 99, 100, 101, 102, 110, 111, 112, 150];
  for (let p = 70; p < 90; p++) probes.push(p);
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30000 + Math.floor(Math.random() * 60) * 100;
    const free = await Promise.all(probes.map((p) => isPortFree(base + p)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('bench: no free port block found for local sites');
}

/** `own`: always start private sites, whatever runs already. */
export async function acquireSites(
  log: (msg: string) => void,
  own = false,
): Promise<AcquiredSites> {
  const fromEnv = process.env.CROSSDOCK_SITES_STATE || undefined;
  const candidate = fromEnv ?? (existsSync(defaultStatePath) ? defaultStatePath : undefined);
  if (candidate && !own) {
    const state = loadSites(candidate);
    assertNotDefaultBroker(state, candidate);
    if (await answers(state)) {
      return { state, statePath: candidate, started: false, release: () => undefined };
    }
    if (fromEnv) throw new Error(`bench: the sites of ${fromEnv} do not answer`);
    log(`${candidate} does not answer; starting private sites`);
  }
  if (existsSync(join(benchSitesDir, 'sites.json'))) {
    throw new Error(
      `bench: ${benchSitesDir} already holds sites (another bench run, or a killed one): ` +
        `stop them with \`scripts/sites down --dir ${benchSitesDir}\` or pass CROSSDOCK_SITES_STATE`,
    );
  }
  const base = await pickBasePort();
  log(`starting private sites: scripts/sites up --base-port ${base} --dir ${benchSitesDir}`);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    log('stopping private sites');
    spawnSync(sitesScript, ['down', '--dir', benchSitesDir], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 120000,
    });
  };
  const up = spawnSync(
    sitesScript,
    ['up', '--sites', '2', '--base-port', String(base), '--dir', benchSitesDir],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300000 },
  );
  const statePath = join(benchSitesDir, 'sites.json');
  if (up.status !== 0 || !existsSync(statePath)) {
    release();
    throw new Error(`bench: scripts/sites up failed (exit ${up.status ?? up.signal})`);
  }
  const state = loadSites(statePath);
  assertNotDefaultBroker(state, statePath);
  return { state, statePath, started: true, release };
}
