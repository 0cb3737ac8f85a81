/**
 * Probe benchmark (#6): 100 distinct probe paths probed at 1 Hz against real brokers; the
 * service's CPU and the broker CPU the probes add. See docs/benchmarks.md ("Probes (#6)").
 *
 *   npx nest build && npx tsx bench/probes.ts [--sites N] [--duration S] [--settle S]
 *                                             [--quick] [--profile] [--allow-stale] [--one-vhost]
 *                                             [--baseline DIR [--rounds R]]
 *
 * 1. starts N private sites (default 10: dc1 and dc2 with two nodes, dc3..dcN with one) with
 *    `scripts/sites up --sites N` on a free port block, in .local/bench-probe-sites, stopped at
 *    the end (also on failure and Ctrl-C);
 * 2. creates a throw-away database (crossdock_bench_probes_*), migrates it, starts
 *    `node dist/src/main.js` on a free port with PROBES_ENABLED=true PROBE_INTERVAL_MS=1000
 *    RECONCILE_ENABLED=true (other settings at their defaults; nothing from the caller's shell);
 * 3. registers one site and one cluster per local site through the REST API, then the links:
 *    an exchange federation link in both directions between every pair of clusters (N*(N-1)
 *    probe paths) and a ring of N shovels dc_i -> dc_(i+1) (N probe paths): 100 paths for
 *    N = 10. Each ordered pair has a vhost of its own on both ends (`bench.dcI.dcJ`, so 2(N-1)
 *    managed vhosts per cluster) holding its exchange or its shovel's queues, declared through
 *    the management API. (--one-vhost puts everything in one vhost `bench` instead; before main's
 *    commit 3a8ffd6 the compiler rejected that layout: see docs/benchmarks.md.)
 * 4. reconciles every cluster (POST /reconcile) until a pass changes nothing anywhere, and waits
 *    until GET /probes/paths lists every path with samples in its last minute;
 * 5. measures, side by side in one run, over `--duration` seconds each (default 60):
 *      A. probes on: the service's CPU (utime + stime from /proc, % of one core), the CPU of every
 *         beam.smp of the bench's sites, of the WAN proxy and of the Postgres backends serving
 *         the bench's database; probe samples stored per second, lost, lag;
 *      B. the same topology with the service stopped (every federation link and shovel, probe
 *         paths included, still runs; only crossdock's traffic is gone): broker and proxy CPU;
 *      C. (not with --quick) the service again with PROBES_ENABLED=false: what the service and
 *         the brokers cost without probes (drift reconcile passes every 30 s);
 *      D. (not with --quick) probes on again, broker polling (link state, alarms, backlog over
 *         the management API, PROBE_BROKER_POLL_MS, default 5 s) slowed to once in 5 minutes:
 *         what the AMQP probes alone cost;
 *    added broker CPU = A - B; the machine's busy CPU (/proc/stat) is printed per phase;
 * 6. with --profile, records a V8 CPU profile of the service over one more window after A (so
 *    the profiler's own cost stays out of A) and prints where the time goes.
 *
 * With --baseline DIR (a checkout built with `npx nest build`, e.g. `git archive main | tar -x`
 * into a temporary directory plus a node_modules link), phases A-D are replaced by a comparison
 * in one session: R rounds (default 2) of one window of this build and one of DIR's, in ABBA
 * order (new, base, base, new, ...), each on a freshly started service that first re-probes
 * every path and settles; then B. Load that changes during the session then weighs on both
 * builds alike; the ratio of the means (this build / baseline) is printed.
 *
 * Target: the service's CPU in A < 10% of one core; exit 1 when missed (or when probes do not
 * flow: fewer than 90% of the expected samples stored in A). Nothing printed carries a
 * credential.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Client } from 'pg';
import { redactString } from '../src/common/logging/redact';
import { runMigrations } from '../src/database/migrate';
import { adminUrl, createDatabase, dropDatabase } from '../test/helpers/postgres';
import { TestManagement, type LocalSite, type SitesState } from '../test/helpers/sites';
import { pickBasePort, startPrivateSites, type AcquiredSites } from './lib/local-sites';
import { profilerOptions, startProfile, stopProfile, summarizeProfile } from './lib/profile';
import { checkBuild, memoryOf, mib, root, sleep, startService, type Service } from './lib/service';

const workDir = join(root, '.local', 'bench');
const sitesDir = join(root, '.local', 'bench-probe-sites');
const target = { serviceCorePct: 10 };
const probeIntervalMs = 1000;
const enc = encodeURIComponent;

interface Options {
  sites: number;
  duration: number;
  settle: number;
  /** Phases A and B only. */
  quick: boolean;
  profile: boolean;
  allowStale: boolean;
  /** Every link in one vhost `bench` instead of one vhost per ordered pair. */
  oneVhost: boolean;
  /** A built checkout to compare against, interleaved with this build (see the header). */
  baseline?: string;
  rounds: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    sites: 10,
    duration: 60,
    settle: 15,
    quick: false,
    profile: false,
    allowStale: false,
    oneVhost: false,
    rounds: 2,
  };
  const num = (i: number) => {
    const v = argv[i + 1] ?? '';
    if (!/^\d+$/.test(v)) throw new Error(`bench: ${argv[i]} needs a number`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sites') opts.sites = num(i++);
    else if (a === '--duration') opts.duration = num(i++);
    else if (a === '--settle') opts.settle = num(i++);
    else if (a === '--quick') opts.quick = true;
    else if (a === '--profile') opts.profile = true;
    else if (a === '--allow-stale') opts.allowStale = true;
    else if (a === '--one-vhost') opts.oneVhost = true;
    else if (a === '--rounds') opts.rounds = num(i++);
    else if (a === '--baseline') {
      const dir = argv[++i] ?? '';
      if (!existsSync(join(dir, 'dist', 'src', 'main.js')))
        throw new Error(
          `bench: --baseline needs a built checkout (${dir}/dist/src/main.js missing)`,
        );
      opts.baseline = resolve(dir);
    } else throw new Error(`bench: unknown argument ${a}`);
  }
  if (opts.sites < 2 || opts.sites > 12) throw new Error('bench: --sites must be 2..12');
  if (opts.duration < 10) throw new Error('bench: --duration must be at least 10 s');
  if (opts.rounds < 1 || opts.rounds > 10) throw new Error('bench: --rounds must be 1..10');
  return opts;
}

const log = (msg: string) => console.error(`[bench] ${msg}`);
const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (n: number) => `${n.toFixed(1)}%`;

// ------------------------------------------------------------------ processes and CPU

const ticksPerSecond = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds, or undefined when it is gone. */
function cpuOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** The beam.smp processes of the bench's sites (their command line carries the node marker). */
function brokerPids(basePort: number): number[] {
  const marker = `-crossdock_node\u0000cd${basePort}_`;
  return allPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  });
}

/** Members of the WAN proxy's process group (scripts/sites starts it with setsid). */
function proxyPids(state: SitesState): number[] {
  let pgid: number;
  try {
    pgid = Number(readFileSync(join(state.dir, 'wan-proxy.pid'), 'utf8').trim());
  } catch {
    return [];
  }
  return allPids().filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid;
    } catch {
      return false;
    }
  });
}

/** Postgres backends connected to the bench's database (the monitor connects elsewhere). */
async function pgPids(monitor: Client, dbName: string): Promise<number[]> {
  const res = await monitor.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1',
    [dbName],
  );
  return res.rows.map((r) => r.pid);
}

interface Groups {
  service?: number;
  brokers: number[];
  proxy: number[];
  pg: number[];
}

/** Busy and total jiffies of the whole machine (/proc/stat, all CPUs). */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = f[3] + f[4];
  return { busy: total - idle, total };
}

interface Window {
  label: string;
  seconds: number;
  /** Busy share of the whole machine in the window, % of all CPUs. */
  machineBusy: number;
  /** CPU seconds used in the window, per group. */
  service?: number;
  brokers: number;
  proxy: number;
  pg: number;
  brokerCount: number;
  pgCount: number;
  /** Service CPU per 10 s slice, % of one core. */
  slices: number[];
  from: Date;
  to: Date;
}

function snapshot(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    const c = cpuOf(pid);
    if (c !== undefined) m.set(pid, c);
  }
  return m;
}

/** CPU used between two snapshots by the processes present in both. */
function used(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, c] of after) {
    const b = before.get(pid);
    if (b !== undefined) sum += c - b;
  }
  return sum;
}

async function measure(label: string, seconds: number, g: Groups): Promise<Window> {
  log(`measuring "${label}" for ${seconds} s`);
  const all = [...g.brokers, ...g.proxy, ...g.pg];
  const from = new Date();
  const t0 = performance.now();
  const before = snapshot(all);
  const m0 = machineJiffies();
  const svc0 = g.service !== undefined ? cpuOf(g.service) : undefined;
  const slices: number[] = [];
  let last = svc0;
  let lastT = t0;
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(10000, end - performance.now()));
    if (g.service === undefined || last === undefined) continue;
    const now = cpuOf(g.service);
    const t = performance.now();
    if (now !== undefined && t - lastT > 1000)
      slices.push((100 * (now - last)) / ((t - lastT) / 1000));
    last = now;
    lastT = t;
  }
  const after = snapshot(all);
  const m1 = machineJiffies();
  const svc1 = g.service !== undefined ? cpuOf(g.service) : undefined;
  const elapsed = (performance.now() - t0) / 1000;
  const pick = (pids: number[]) => {
    const set = new Set(pids);
    const f = (m: Map<number, number>) => new Map([...m].filter(([p]) => set.has(p)));
    return used(f(before), f(after));
  };
  return {
    label,
    seconds: elapsed,
    machineBusy: (100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total),
    service: svc0 !== undefined && svc1 !== undefined ? svc1 - svc0 : undefined,
    brokers: pick(g.brokers),
    proxy: pick(g.proxy),
    pg: pick(g.pg),
    brokerCount: g.brokers.length,
    pgCount: g.pg.length,
    slices,
    from,
    to: new Date(),
  };
}

const corePct = (cpuSeconds: number | undefined, w: Window) =>
  cpuSeconds === undefined ? undefined : (100 * cpuSeconds) / w.seconds;

// ------------------------------------------------------------------ the service's API

async function api<T>(svc: Service, token: string, method: string, path: string, body?: unknown) {
  let res: Response;
  let text: string;
  // A 503 (database briefly unreachable on a loaded machine) is retried a few times.
  for (let attempt = 1; ; attempt++) {
    res = await fetch(`${svc.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(120000),
    });
    text = await res.text();
    if (res.status !== 503 || attempt >= 5) break;
    log(`${method} ${path} -> 503; retrying in 2 s`);
    await sleep(2000);
  }
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface Registered {
  local: LocalSite;
  siteId: string;
  clusterId: string;
}

/**
 * The vhost a link from `from` to `to` lives in, on both ends: one per ordered pair, so that no
 * cluster is the upstream of two exchange federation links in one vhost (which the compiler
 * rejected before main's 3a8ffd6; see docs/benchmarks.md), or `bench` for everything with
 * --one-vhost.
 */
const pairVhost = (oneVhost: boolean, from: LocalSite, to: LocalSite) =>
  oneVhost ? 'bench' : `bench.${from.name}.${to.name}`;

function vhostsOf(oneVhost: boolean, state: SitesState, local: LocalSite): string[] {
  const out = new Set<string>();
  for (const other of state.sites) {
    if (other === local) continue;
    out.add(pairVhost(oneVhost, local, other));
    out.add(pairVhost(oneVhost, other, local));
  }
  return [...out];
}

async function register(
  svc: Service,
  token: string,
  state: SitesState,
  local: LocalSite,
  vhosts: string[],
): Promise<Registered> {
  const site = await api<{ id: string }>(svc, token, 'POST', '/sites', {
    name: `bench-${local.name}`,
    region: local.name,
  });
  const cluster = await api<{ id: string }>(svc, token, 'POST', '/clusters', {
    siteId: site.id,
    name: 'main',
    brokerClusterName: local.clusterName,
    linkEndpoints: [local.link],
    vhosts,
    credentials: state.admin,
    nodes: local.nodes.map((n) => ({
      name: n.name,
      host: n.host,
      amqpPort: n.amqpPort,
      managementPort: n.managementPort,
      type: n.type,
    })),
  });
  return { local, siteId: site.id, clusterId: cluster.id };
}

interface Topology {
  federation: { id: string; from: Registered; to: Registered }[];
  shovels: { id: string; from: Registered; to: Registered }[];
}

/** The vhosts of every cluster, with the admin user allowed in them. */
async function createVhosts(state: SitesState, oneVhost: boolean): Promise<void> {
  for (const local of state.sites) {
    const m = TestManagement.forSite(state, local.name);
    for (const vhost of vhostsOf(oneVhost, state, local)) {
      await m.request('PUT', `/api/vhosts/${enc(vhost)}`, {});
      await m.request('PUT', `/api/permissions/${enc(vhost)}/${enc(state.admin.username)}`, {
        configure: '.*',
        write: '.*',
        read: '.*',
      });
    }
  }
}

/** Federation both ways between every pair, a ring of shovels; objects they need, first. */
async function buildTopology(
  svc: Service,
  token: string,
  state: SitesState,
  regs: Registered[],
  oneVhost: boolean,
): Promise<Topology> {
  const mgmt = new Map(
    regs.map((r) => [r.local.name, TestManagement.forSite(state, r.local.name)]),
  );
  const m = (r: Registered) => mgmt.get(r.local.name) as TestManagement;
  const exchange = (a: Registered, b: Registered) => `events.${a.local.name}.${b.local.name}`;
  const topo: Topology = { federation: [], shovels: [] };
  for (const from of regs) {
    for (const to of regs) {
      if (from === to) continue;
      const vhost = pairVhost(oneVhost, from.local, to.local);
      for (const r of [from, to])
        await m(r).request('PUT', `/api/exchanges/${enc(vhost)}/${enc(exchange(from, to))}`, {
          type: 'fanout',
          durable: true,
        });
      const link = await api<{ id: string }>(svc, token, 'POST', '/links/federation', {
        name: `fed-${from.local.name}-${to.local.name}`,
        kind: 'exchange',
        upstream: { clusterId: from.clusterId, vhost },
        downstream: { clusterId: to.clusterId, vhost },
        targets: [exchange(from, to)],
      });
      topo.federation.push({ id: link.id, from, to });
    }
  }
  for (const [i, from] of regs.entries()) {
    const to = regs[(i + 1) % regs.length];
    const vhost = pairVhost(oneVhost, from.local, to.local);
    const src = `outbox.${to.local.name}`;
    const dst = `inbox.${from.local.name}`;
    await m(from).request('PUT', `/api/queues/${enc(vhost)}/${enc(src)}`, { durable: true });
    await m(to).request('PUT', `/api/queues/${enc(vhost)}/${enc(dst)}`, { durable: true });
    const shovel = await api<{ id: string }>(svc, token, 'POST', '/links/shovels', {
      name: `sh-${from.local.name}-${to.local.name}`,
      source: { clusterId: from.clusterId, vhost, queue: src },
      destination: { clusterId: to.clusterId, vhost, queue: dst },
    });
    topo.shovels.push({ id: shovel.id, from, to });
  }
  return topo;
}

interface RunView {
  clusterId: string;
  status: string;
  error: string | null;
  summary: { creates?: number; updates?: number; deletes?: number; desired?: number };
  findings: { kind: string; detail?: string }[];
}

/** POST /reconcile until one pass over every cluster succeeds and changes nothing. */
async function reconcileUntilQuiet(svc: Service, token: string): Promise<string> {
  const deadline = Date.now() + 300000;
  for (let pass = 1; ; pass++) {
    const t0 = performance.now();
    const { runs } = await api<{ runs: RunView[] }>(svc, token, 'POST', '/reconcile', {});
    const ms = performance.now() - t0;
    const bad = runs.filter((r) => r.status !== 'succeeded');
    const ops = runs.reduce(
      (n, r) => n + (r.summary.creates ?? 0) + (r.summary.updates ?? 0) + (r.summary.deletes ?? 0),
      0,
    );
    const warnings = runs.flatMap((r) => r.findings.filter((f) => f.kind === 'warning'));
    const desired = runs.reduce((n, r) => n + (r.summary.desired ?? 0), 0);
    log(
      `reconcile pass ${pass}: ${runs.length} clusters in ${fmt(ms)} ms, ${ops} write(s), ` +
        `${desired} desired objects, ${bad.length} not succeeded${bad.length ? ` (${[...new Set(bad.map((r) => `${r.status}${r.error ? `: ${redactString(r.error)}` : ''}`))].join('; ')})` : ''}, ` +
        `${warnings.length} warning(s)`,
    );
    if (bad.length === 0 && ops === 0 && warnings.length === 0)
      return `${pass} passes; the last one: ${desired} desired objects on ${runs.length} clusters, no write, ${fmt(ms)} ms`;
    if (Date.now() > deadline) {
      for (const w of warnings.slice(0, 5)) log(`  warning: ${redactString(w.detail ?? '')}`);
      throw new Error('bench: the clusters did not converge within 300 s');
    }
    await sleep(bad.some((r) => r.status === 'busy') ? 2000 : 500);
  }
}

interface PathRow {
  id: string;
  lastMinute: { samples: number; lost: number; lastSampleAt: string | null };
}

async function waitForPaths(svc: Service, token: string, expected: number): Promise<number> {
  const t0 = Date.now();
  let last = '';
  for (;;) {
    const paths = (await api<{ items: PathRow[] }>(svc, token, 'GET', '/probes/paths')).items;
    const fresh = paths.filter(
      (p) =>
        p.lastMinute.samples - p.lastMinute.lost > 0 &&
        p.lastMinute.lastSampleAt !== null &&
        Date.now() - Date.parse(p.lastMinute.lastSampleAt) < 5000,
    );
    const line = `${paths.length} paths listed, ${fresh.length} with fresh samples`;
    if (line !== last) log(`probe paths: ${line}`);
    last = line;
    if (paths.length === expected && fresh.length === expected) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > 240000)
      throw new Error(`bench: probe paths not all flowing after 240 s (${line})`);
    await sleep(2000);
  }
}

// ------------------------------------------------------------------ stored samples

interface LagStats {
  n: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
  /** Median of receive - send before the baseline (crossdock's own legs) is taken off. */
  rawP50: number | null;
}

interface SampleStats {
  rows: number;
  lost: number;
  paths: number;
  minPerPath: number;
  maxPerPath: number;
  all: LagStats;
  federation: LagStats;
  shovel: LagStats;
  /** Time between a path's consecutive probes (receive times), ms: the achieved cadence. */
  gapP50: number | null;
  gapP90: number | null;
  gapMax: number | null;
}

async function sampleStats(dbUrl: string, from: Date, to: Date): Promise<SampleStats> {
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const lag = async (kind: string) => {
      const { rows } = await c.query<LagStats>(
        `SELECT count(lag_ms)::int AS n,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms) AS p95, max(lag_ms) AS max,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY raw_ms) AS "rawP50"
           FROM probe_samples WHERE at >= $1 AND at < $2 AND path_id LIKE $3`,
        [from, to, `${kind}%`],
      );
      return rows[0];
    };
    const { rows } = await c.query<{
      rows: number;
      lost: number;
      paths: number;
      min_per_path: number | null;
      max_per_path: number | null;
      gap_p50: number | null;
      gap_p90: number | null;
      gap_max: number | null;
    }>(
      `WITH w AS (SELECT * FROM probe_samples WHERE at >= $1 AND at < $2),
            per AS (SELECT path_id, count(*) AS n FROM w GROUP BY path_id),
            gaps AS (SELECT (extract(epoch FROM at - lag(at) OVER p) * 1000)::float8 AS ms,
                            seq - lag(seq) OVER p AS dseq
                       FROM w WHERE NOT lost WINDOW p AS (PARTITION BY path_id ORDER BY seq))
       SELECT (SELECT count(*) FROM w)::int AS rows,
              (SELECT count(*) FROM w WHERE lost)::int AS lost,
              (SELECT count(*) FROM per)::int AS paths,
              (SELECT min(n) FROM per)::int AS min_per_path,
              (SELECT max(n) FROM per)::int AS max_per_path,
              (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM gaps WHERE dseq = 1) AS gap_p50,
              (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) FROM gaps WHERE dseq = 1) AS gap_p90,
              (SELECT max(ms) FROM gaps WHERE dseq = 1) AS gap_max`,
      [from, to],
    );
    const r = rows[0];
    return {
      rows: r.rows,
      lost: r.lost,
      paths: r.paths,
      minPerPath: r.min_per_path ?? 0,
      maxPerPath: r.max_per_path ?? 0,
      all: await lag(''),
      federation: await lag('federation:'),
      shovel: await lag('shovel:'),
      gapP50: r.gap_p50,
      gapP90: r.gap_p90,
      gapMax: r.gap_max,
    };
  } finally {
    await c.end();
  }
}

const ms1 = (n: number | string | null) => (n === null ? 'n/a' : `${Number(n).toFixed(1)} ms`);
const lagText = (l: LagStats) =>
  `p50 ${ms1(l.p50)}, p95 ${ms1(l.p95)}, max ${ms1(l.max)} (raw p50 ${ms1(l.rawP50)})`;

function describeSamples(st: SampleStats, seconds: number, expectedPerSecond: number): string[] {
  return [
    `${fmt(st.rows)} samples stored (${fmt(st.rows / seconds, 1)}/s of ${fmt(expectedPerSecond)}/s ` +
      `expected), lost ${st.lost}, ${st.paths} paths (${st.minPerPath}..${st.maxPerPath} samples each); ` +
      `time between a path's probes p50 ${ms1(st.gapP50)}, p90 ${ms1(st.gapP90)}, max ${ms1(st.gapMax)}`,
    `lag: all ${lagText(st.all)}; federation ${lagText(st.federation)}; shovel ${lagText(st.shovel)}`,
  ];
}

async function healthCounts(dbUrl: string): Promise<string> {
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ state: string; n: number; codes: string | null }>(
      `SELECT state, count(*)::int AS n,
              string_agg(DISTINCT r->>'code', ', ') FILTER (WHERE r->>'state' <> 'healthy') AS codes
         FROM link_health LEFT JOIN LATERAL jsonb_array_elements(reasons) r ON true
        GROUP BY state ORDER BY state`,
    );
    return rows.map((r) => `${r.n} ${r.state}${r.codes ? ` (${r.codes})` : ''}`).join(', ');
  } finally {
    await c.end();
  }
}

// ------------------------------------------------------------------ --baseline comparison

/** Every expected path has a sample stored since `since` (so by the instance started then). */
async function waitForOwnSamples(dbUrl: string, since: Date, expected: number): Promise<number> {
  const t0 = Date.now();
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    for (;;) {
      const { rows } = await c.query<{ n: number }>(
        'SELECT count(DISTINCT path_id)::int AS n FROM probe_samples WHERE at >= $1 AND NOT lost',
        [since],
      );
      if (rows[0].n >= expected) return (Date.now() - t0) / 1000;
      if (Date.now() - t0 > 240000)
        throw new Error(`bench: only ${rows[0].n} of ${expected} paths probed after 240 s`);
      await sleep(2000);
    }
  } finally {
    await c.end();
  }
}

interface CompareContext {
  opts: Options;
  baseline: string;
  serviceEnv: Record<string, string>;
  groups: Omit<Groups, 'service' | 'pg'>;
  monitor: Client;
  db: { name: string; url: string };
  expectedPaths: number;
  /** Tells main() which service is running (so its cleanup stops it). */
  setService: (s: Service | undefined) => void;
}

interface CompareWindow {
  variant: 'new' | 'base';
  w: Window;
  st: SampleStats;
  health: string;
  load: number[];
  probedAfterS: number;
}

/** ABBA-interleaved windows of this build and the baseline, then B; prints and returns 0/1. */
async function compareBuilds(ctx: CompareContext): Promise<number> {
  const { opts, db } = ctx;
  const order: ('new' | 'base')[] = [];
  for (let r = 0; r < opts.rounds; r++)
    order.push(...(r % 2 === 0 ? (['new', 'base'] as const) : (['base', 'new'] as const)));
  const windows: CompareWindow[] = [];
  const profiled = new Set<string>();
  const profileLines: string[] = [];
  for (const [i, variant] of order.entries()) {
    const profiling = opts.profile && !profiled.has(variant) ? profilerOptions(workDir) : {};
    const since = new Date();
    const svc = await startService(ctx.serviceEnv, workDir, {
      ...profiling,
      ...(variant === 'base' ? { buildRoot: ctx.baseline } : {}),
    });
    ctx.setService(svc);
    log(
      `window ${i + 1}/${order.length}: ${variant} build (pid ${svc.pid}); waiting for its probes`,
    );
    const probedAfterS = await waitForOwnSamples(db.url, since, ctx.expectedPaths);
    await sleep(opts.settle * 1000);
    const load = loadavg();
    const w = await measure(`${i + 1}. ${variant}`, opts.duration, {
      ...ctx.groups,
      service: svc.pid,
      pg: await pgPids(ctx.monitor, db.name),
    });
    await sleep(3000); // one sample flush (every 2 s)
    const st = await sampleStats(db.url, w.from, w.to);
    const health = await healthCounts(db.url);
    windows.push({ variant, w, st, health, load, probedAfterS });
    if (opts.profile && !profiled.has(variant)) {
      profiled.add(variant);
      const file = join(workDir, `probes-profile-${variant}-${Date.now()}.cpuprofile`);
      log(`profiling the ${variant} build for ${opts.duration} s (not part of the figures)`);
      await startProfile(svc.child, file);
      await sleep(opts.duration * 1000);
      await stopProfile(svc.child);
      profileLines.push('', ...summarizeProfile(file, `${opts.duration} s, ${variant} build`, 30));
    }
    await svc.stop();
    ctx.setService(undefined);
    await sleep(5000); // its AMQP connections and advisory locks go with it
  }
  log('service stopped; letting its connections close (10 s)');
  await sleep(10000);
  const b = await measure('B. service stopped', opts.duration, { ...ctx.groups, pg: [] });
  const brokerB = corePct(b.brokers, b) ?? NaN;

  const out: string[] = [''];
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  out.push(
    `Probe benchmark, this build (new) against ${relative(root, ctx.baseline) || ctx.baseline} (base), ` +
      `${ctx.expectedPaths} paths at ${1000 / probeIntervalMs} Hz, ${opts.rounds} rounds of ${opts.duration} s windows in ABBA order`,
  );
  out.push('');
  out.push(
    row([
      'window',
      'load avg 1/5/15 at start',
      'service CPU',
      '10 s slices',
      'brokers added (- B)',
      'Postgres',
      'samples/s',
      'lost',
      'lag p50 / p95',
      'cadence p50 / max',
      'machine busy',
      'health at end',
    ]),
  );
  out.push(
    row([
      '---',
      '---',
      '---:',
      '---',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---',
    ]),
  );
  for (const x of windows) {
    const w = x.w;
    out.push(
      row([
        w.label,
        x.load.map((l) => l.toFixed(1)).join(' / '),
        pct(corePct(w.service, w) ?? NaN),
        w.slices.map((v) => v.toFixed(1)).join(', '),
        ((corePct(w.brokers, w) ?? NaN) - brokerB).toFixed(1),
        pct(corePct(w.pg, w) ?? NaN),
        fmt(x.st.rows / w.seconds, 1),
        String(x.st.lost),
        `${ms1(x.st.all.p50)} / ${ms1(x.st.all.p95)}`,
        `${ms1(x.st.gapP50)} / ${ms1(x.st.gapMax)}`,
        `${w.machineBusy.toFixed(0)}%`,
        x.health,
      ]),
    );
  }
  out.push(
    `B. service stopped: brokers ${pct(brokerB)} (load avg at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')})`,
  );
  const mean = (v: 'new' | 'base', f: (x: CompareWindow) => number) => {
    const xs = windows.filter((x) => x.variant === v).map(f);
    return xs.reduce((a, c) => a + c, 0) / xs.length;
  };
  const svcOf = (x: CompareWindow) => corePct(x.w.service, x.w) ?? NaN;
  const addedOf = (x: CompareWindow) => (corePct(x.w.brokers, x.w) ?? NaN) - brokerB;
  const [sNew, sBase] = [mean('new', svcOf), mean('base', svcOf)];
  const [bNew, bBase] = [mean('new', addedOf), mean('base', addedOf)];
  out.push('');
  out.push(
    `service CPU, mean of ${opts.rounds} windows each: new ${pct(sNew)}, base ${pct(sBase)} of one core: ` +
      `new / base = ${(sNew / sBase).toFixed(2)}`,
  );
  out.push(
    `broker CPU added (window - B), mean: new ${bNew.toFixed(1)}, base ${bBase.toFixed(1)} points of one core: ` +
      `new / base = ${(bNew / bBase).toFixed(2)}`,
  );
  const newWindows = windows.filter((x) => x.variant === 'new');
  const flowing = newWindows.every(
    (x) => x.st.rows >= 0.9 * ctx.expectedPaths * x.w.seconds * (1000 / probeIntervalMs),
  );
  const met = sNew < target.serviceCorePct;
  out.push(...profileLines);
  out.push('');
  out.push(
    `target: service CPU < ${target.serviceCorePct}% of one core: new build ${pct(sNew)} = ` +
      `${(sNew / target.serviceCorePct).toFixed(2)}x the budget -> ${met ? 'MET' : 'MISSED'}` +
      (flowing ? '' : '; probes did not flow in every window of the new build'),
  );
  console.log(out.join('\n'));
  return met && flowing ? 0 : 1;
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  checkBuild(opts.allowStale);
  mkdirSync(workDir, { recursive: true });
  const expectedPaths = opts.sites * (opts.sites - 1) + opts.sites;
  const loadBefore = loadavg();
  if (loadBefore[0] > 0.5 * cpus().length)
    log(
      `warning: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs: ` +
        'other work competes (CPU seconds are still the processes’ own)',
    );

  let sites: AcquiredSites | undefined;
  let db: { name: string; url: string } | undefined;
  let svc: Service | undefined;
  let monitor: Client | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await svc?.stop().catch(() => undefined);
    await monitor?.end().catch(() => undefined);
    if (db)
      await dropDatabase(db.name).catch((err: unknown) =>
        log(`could not drop ${db?.name}: ${String(err)}`),
      );
    sites?.release();
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const base = await pickBasePort(opts.sites);
    const t0 = performance.now();
    sites = startPrivateSites(log, { sites: opts.sites, dir: sitesDir, base, startTimeoutS: 300 });
    const state = sites.state;
    const sitesUpS = (performance.now() - t0) / 1000;
    const brokers = brokerPids(state.basePort);
    const nodeCount = state.sites.reduce((n, s) => n + s.nodes.length, 0);
    if (brokers.length !== nodeCount)
      throw new Error(`bench: found ${brokers.length} beam.smp processes for ${nodeCount} nodes`);
    const proxy = proxyPids(state);

    db = await createDatabase('crossdock_bench_probes');
    await runMigrations(db.url);
    monitor = new Client({ connectionString: adminUrl });
    await monitor.connect();
    const bootstrapToken = `bench-bootstrap-${randomBytes(24).toString('hex')}`;
    const serviceEnv = {
      DATABASE_URL: db.url,
      CROSSDOCK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      CROSSDOCK_AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
      CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: bootstrapToken,
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: String(probeIntervalMs),
      RECONCILE_ENABLED: 'true',
    };
    const profiling = opts.profile ? profilerOptions(workDir) : {};
    svc = await startService(serviceEnv, workDir, profiling);
    log(`service up (pid ${svc.pid}, ${relative(root, svc.logFile)})`);

    const tSetup = performance.now();
    const regs: Registered[] = [];
    await createVhosts(state, opts.oneVhost);
    for (const local of state.sites)
      regs.push(
        await register(svc, bootstrapToken, state, local, vhostsOf(opts.oneVhost, state, local)),
      );
    const topo = await buildTopology(svc, bootstrapToken, state, regs, opts.oneVhost);
    log(
      `registered ${regs.length} clusters, ${topo.federation.length} federation links and ` +
        `${topo.shovels.length} shovels`,
    );
    const converged = await reconcileUntilQuiet(svc, bootstrapToken);
    const setupS = (performance.now() - tSetup) / 1000;
    const pathsAfterS = await waitForPaths(svc, bootstrapToken, expectedPaths);
    log(`all ${expectedPaths} probe paths flowing; settling for ${opts.settle} s`);
    await sleep(opts.settle * 1000);

    if (opts.baseline) {
      await svc.stop();
      svc = undefined;
      return await compareBuilds({
        opts,
        baseline: opts.baseline,
        serviceEnv,
        groups: { brokers, proxy },
        monitor,
        db,
        expectedPaths,
        setService: (s) => (svc = s),
      });
    }

    // A. probes on.
    const a = await measure('A. probes on', opts.duration, {
      service: svc.pid,
      brokers,
      proxy,
      pg: await pgPids(monitor, db.name),
    });
    const rss = memoryOf(svc.pid).rss;
    await sleep(3000); // one sample flush (every 2 s)
    const stats = await sampleStats(db.url, a.from, a.to);
    const health = await healthCounts(db.url);

    let profileLines: string[] = [];
    if (opts.profile) {
      const file = join(workDir, `probes-profile-${Date.now()}.cpuprofile`);
      log(`profiling the service for ${opts.duration} s (not part of the figures)`);
      await startProfile(svc.child, file);
      // Event-loop responsiveness meanwhile: GET /health/live 4 times a second.
      const lat: number[] = [];
      const until = performance.now() + opts.duration * 1000;
      while (performance.now() < until) {
        const t = performance.now();
        await fetch(`${svc.url}/health/live`).then((r) => r.arrayBuffer());
        lat.push(performance.now() - t);
        await sleep(Math.max(0, 250 - (performance.now() - t)));
      }
      await stopProfile(svc.child);
      lat.sort((x, y) => x - y);
      const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
      profileLines = [
        ...summarizeProfile(file, `${opts.duration} s with probes on`),
        `GET /health/live meanwhile (${lat.length} requests, one at a time): p50 ${q(0.5).toFixed(1)} ms, ` +
          `p90 ${q(0.9).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${lat[lat.length - 1].toFixed(1)} ms`,
      ];
    }

    // B. the service stopped: the same topology, nothing of crossdock's.
    await svc.stop();
    log('service stopped; letting its connections close (10 s)');
    await sleep(10000);
    const b = await measure('B. service stopped', opts.duration, { brokers, proxy, pg: [] });

    // C. the service without probes; D. probes without broker polling.
    const phase = async (label: string, env: Record<string, string>, settle: number) => {
      svc = await startService({ ...serviceEnv, ...env }, workDir);
      log(`service restarted with ${JSON.stringify(env)} (pid ${svc.pid}); settling ${settle} s`);
      await sleep(settle * 1000);
      const w = await measure(label, opts.duration, {
        service: svc.pid,
        brokers,
        proxy,
        pg: await pgPids(monitor as Client, (db as { name: string }).name),
      });
      await sleep(3000);
      const st = await sampleStats((db as { url: string }).url, w.from, w.to);
      await svc.stop();
      return { w, st };
    };
    let c: Window | undefined;
    let d: { w: Window; st: SampleStats } | undefined;
    if (!opts.quick) {
      c = (await phase('C. service, probes off', { PROBES_ENABLED: 'false' }, opts.settle)).w;
      // Paths are probed again once the new instance holds their locks and sees its queues.
      d = await phase(
        'D. probes on, broker polling every 5 min',
        { PROBE_BROKER_POLL_MS: '300000' },
        opts.settle + 15,
      );
    }
    const loadAfter = loadavg();

    // ---------------------------------------------------------------- report
    const svcPct = corePct(a.service, a) ?? NaN;
    const brokerA = corePct(a.brokers, a) ?? NaN;
    const brokerB = corePct(b.brokers, b) ?? NaN;
    const expectedSamples = expectedPaths * (a.seconds * (1000 / probeIntervalMs));
    const flowing = stats.rows >= 0.9 * expectedSamples;
    const met = svcPct < target.serviceCorePct;
    const [rabbitVersion, erlangVersion] = await (async () => {
      const o = await TestManagement.forSite(state, 'dc1').request<{
        rabbitmq_version: string;
        erlang_version: string;
      }>('GET', '/api/overview');
      return [o.rabbitmq_version, o.erlang_version];
    })();

    const out: string[] = [];
    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    out.push('');
    out.push(
      `Probe benchmark: ${expectedPaths} probe paths at ${1000 / probeIntervalMs} Hz ` +
        `(${topo.federation.length} federation, ${topo.shovels.length} shovel) across ` +
        `${opts.sites} clusters (${nodeCount} nodes); RabbitMQ ${rabbitVersion}, Erlang ${erlangVersion}; ` +
        `node ${process.version}, ${cpus().length} CPUs, ${fmt(totalmem() / 2 ** 30)} GiB`,
    );
    out.push(
      `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
    );
    out.push(
      `setup: sites up in ${fmt(sitesUpS)} s; registry, links and reconcile in ${fmt(setupS)} s ` +
        `(${converged}); every path flowing ${fmt(pathsAfterS)} s later`,
    );
    out.push('');
    out.push(
      row([
        'phase',
        'seconds',
        'service CPU',
        `brokers (${a.brokerCount} beam.smp)`,
        'WAN proxy',
        'Postgres backends',
        'machine busy',
      ]),
    );
    out.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:']));
    for (const w of [a, b, ...(c ? [c] : []), ...(d ? [d.w] : [])])
      out.push(
        row([
          w.label,
          w.seconds.toFixed(1),
          w.service === undefined ? '-' : pct(corePct(w.service, w) ?? NaN),
          pct(corePct(w.brokers, w) ?? NaN),
          pct(corePct(w.proxy, w) ?? NaN),
          w.pgCount ? `${pct(corePct(w.pg, w) ?? NaN)} (${w.pgCount})` : '-',
          `${w.machineBusy.toFixed(0)}% of ${cpus().length} CPUs`,
        ]),
      );
    out.push(
      '(% of one core: CPU seconds used in the window / its length; Postgres: backends of the ' +
        "bench's database, their count in brackets; machine busy: everything on the box, other sessions included)",
    );
    out.push('');
    out.push(
      `service with probes on: ${pct(svcPct)} of one core ` +
        `(10 s slices: ${a.slices.map((s) => s.toFixed(1)).join(', ')}), RSS ${fmt(mib(rss))} MiB`,
    );
    out.push(
      `broker CPU added by the service with probes on (A - B): ${pct(brokerA - brokerB)} of one core ` +
        `(${pct(brokerA)} vs ${pct(brokerB)}; ${fmt(((brokerA - brokerB) * 10) / expectedPaths, 2)} ms of broker CPU per probe)`,
    );
    if (d) {
      const brokerD = corePct(d.w.brokers, d.w) ?? NaN;
      out.push(
        `probes without broker polling (D): service ${pct(corePct(d.w.service, d.w) ?? NaN)}, brokers ` +
          `${pct(brokerD)} (${pct(brokerD - brokerB)} over B)`,
      );
      out.push(...describeSamples(d.st, d.w.seconds, expectedPaths).map((l) => `  D: ${l}`));
    }
    if (c) {
      const brokerC = corePct(c.brokers, c) ?? NaN;
      out.push(
        `without probes (C): service ${pct(corePct(c.service, c) ?? NaN)}, brokers ${pct(brokerC)} ` +
          `(${pct(brokerC - brokerB)} over B); so the probes themselves: service ` +
          `${pct(svcPct - (corePct(c.service, c) ?? NaN))}, brokers ${pct(brokerA - brokerC)}`,
      );
    }
    out.push(...describeSamples(stats, a.seconds, expectedPaths).map((l) => `A: ${l}`));
    out.push(`link health at the end of A: ${health}`);
    if (profileLines.length) out.push('', ...profileLines);
    out.push('');
    out.push(
      `target: service CPU < ${target.serviceCorePct}% of one core with ${expectedPaths} paths at 1 Hz: ` +
        `${pct(svcPct)} = ${(svcPct / target.serviceCorePct).toFixed(2)}x the budget -> ${met ? 'MET' : 'MISSED'}` +
        (flowing ? '' : `; probes did not flow (${stats.rows} of ${fmt(expectedSamples)} samples)`),
    );
    console.log(out.join('\n'));
    return met && flowing ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${redactString(err instanceof Error ? err.message : String(err))}`);
    process.exit(1);
  },
);
