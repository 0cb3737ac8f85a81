/**
 * Local RabbitMQ sites for benchmarks: use a running `scripts/sites` instance (state file from
 * CROSSDOCK_SITES_STATE, else `.local/dev-sites/sites.json` when it answers), or start a private
 * one on a free port block under `.local/bench-sites` and stop it afterwards. Never the system
 * broker on the default ports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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

/**
 * A base port whose block for `sites` sites (as scripts/sites lays it out: dc1 and dc2 with two
 * nodes, the rest with one) is free, between 30000 and 35999 + 100 per site over 2.
 */
export async function pickBasePort(sites = 2): Promise<number> {
  // Nodes, site links, the WAN proxy's control port and rabbitmqctl's listeners (P+70..P+89).
  const probes = [99];
  for (let i = 0; i < sites; i++) {
    const nodes = i < 2 ? 2 : 1;
    for (let j = 0; j < nodes; j++)
      probes.push(i * 100 + j * 10, i * 100 + j * 10 + 1, i * 100 + j * 10 + 2);
    probes.push(i * 100 + 50);
  }
  for (let p = 70; p < 90; p++) probes.push(p);
  const blocks = 60 - Math.max(0, sites - 3);
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30000 + Math.floor(Math.random() * blocks) * 100;
    const free = await Promise.all(probes.map((p) => isPortFree(base + p)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('bench: no free port block found for local sites');
}

/**
 * Starts `sites` private sites with `scripts/sites up` on a free port block in `dir` (which must
 * not hold sites already); `release` stops them (idempotent).
 */
export function startPrivateSites(
  log: (msg: string) => void,
  opts: { sites: number; dir: string; base: number; startTimeoutS?: number },
): AcquiredSites {
  const { sites, dir, base } = opts;
  const statePath = join(dir, 'sites.json');
  if (existsSync(statePath)) {
    throw new Error(
      `bench: ${dir} already holds sites (another bench run, or a killed one): ` +
        `stop them with \`scripts/sites down --dir ${dir}\``,
    );
  }
  log(`starting private sites: scripts/sites up --sites ${sites} --base-port ${base} --dir ${dir}`);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    log('stopping private sites');
    spawnSync(sitesScript, ['down', '--dir', dir], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 180000,
    });
  };
  const up = spawnSync(
    sitesScript,
    ['up', '--sites', String(sites), '--base-port', String(base), '--dir', dir],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 600000,
      env: opts.startTimeoutS
        ? { ...process.env, CROSSDOCK_SITES_START_TIMEOUT: String(opts.startTimeoutS) }
        : process.env,
    },
  );
  if (up.status !== 0 || !existsSync(statePath)) {
    release();
    throw new Error(`bench: scripts/sites up failed (exit ${up.status ?? up.signal})`);
  }
  const state = loadSites(statePath);
  assertNotDefaultBroker(state, statePath);
  return { state, statePath, started: true, release };
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
  return startPrivateSites(log, { sites: 2, dir: benchSitesDir, base: await pickBasePort(2) });
}

/** PIDs of the processes that make up the sites of `state`: every broker node and the WAN proxy. */
export function siteProcesses(sites: SitesState, statePath: string): number[] {
  const nodes = sites.sites.flatMap((s) => s.nodes.map((n) => n.name));
  const state = resolve(statePath);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    const node = args.indexOf('-crossdock_node');
    const broker = node >= 0 && nodes.includes(args[node + 1]);
    const proxy =
      args.some((a) => a.endsWith('wan-proxy/cli.ts')) && args.some((a) => resolve(a) === state);
    if (broker || proxy) pids.push(Number(entry));
  }
  return pids;
}

/**
 * Pins every thread of `pids` to `cpus` (`taskset -a -p -c`), e.g. to keep local stand-ins for
 * remote sites off the CPU the measured service runs on. Returns false when taskset failed.
 */
export function pinProcesses(pids: number[], cpus: string): boolean {
  let ok = true;
  for (const pid of pids) {
    const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
    if (r.status !== 0) ok = false;
  }
  return ok;
}
