/**
 * API benchmark (issue #21): the built service against a reference written with node:http and
 * pg alone (bench/lib/api-reference.ts) that does the same work per request, side by side in one
 * run, for GET /sites (100 sites, default page of 50, auth on), GET /health/live and
 * GET /links/federation/{id}/health. See docs/benchmarks.md.
 *
 *   npm run bench:api     (= npx nest build && npx tsx bench/api.ts)
 *   npx tsx bench/api.ts [--allow-stale] [--profile] [--duration S] [--rounds N]
 *       [--only sites,live,health]
 *
 * Creates a throw-away database, starts `node dist/src/main.js` on a free port, creates an admin
 * token through the API, seeds 100 sites and one federation link (two clusters, a healthy
 * verdict), starts the reference on the same database and checks that both answer the same
 * bytes, then runs autocannon in a separate process, service and reference alternately
 * (--rounds rounds of --duration seconds each, default 3 x 5 s). Prints the medians and the
 * ratios; exits 1 unless GET /sites reaches >= 0.5x the reference's req/s with a p99 <= 2x the
 * reference's, GET /health/live >= 0.5x plain node:http, and no request failed.
 *
 * --only     measures only the endpoints named (sites, live, health; comma-separated).
 * --profile  also records V8 CPU profiles of the service during the measured runs and prints
 *            where the time goes (profiles kept under .local/bench/, open them in Chrome DevTools).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { runMigrations } from '../src/database/migrate';
import { createDatabase, dropDatabase, withClient } from '../test/helpers/postgres';
import { freePort } from '../test/helpers/ports';

const root = join(__dirname, '..');
const workDir = join(root, '.local', 'bench');
const autocannonBin = join(root, 'node_modules', '.bin', 'autocannon');
/** Ratios against the reference, measured side by side (issue #21). */
const target = { sitesThroughput: 0.5, sitesP99: 2, liveThroughput: 0.5 };
const siteCount = 100;
const connections = 50;
/** The service's default pool; the reference gets the same. */
const poolSize = 20;

interface Options {
  allowStale: boolean;
  profile: boolean;
  duration: number;
  rounds: number;
  /** Endpoints to measure (sites, live, health); all by default. */
  only?: Set<string>;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { allowStale: false, profile: false, duration: 5, rounds: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--allow-stale') opts.allowStale = true;
    else if (a === '--profile') opts.profile = true;
    else if (a === '--duration' && /^\d+$/.test(argv[i + 1] ?? ''))
      opts.duration = Number(argv[++i]);
    else if (a === '--rounds' && /^[1-9]\d*$/.test(argv[i + 1] ?? ''))
      opts.rounds = Number(argv[++i]);
    else if (
      a === '--only' &&
      /^(sites|live|health)(,(sites|live|health))*$/.test(argv[i + 1] ?? '')
    )
      opts.only = new Set(argv[++i].split(','));
    else throw new Error(`bench: unknown argument ${a}`);
  }
  return opts;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** The benchmark measures dist/: refuse to measure code older than the sources. */
function checkBuild(allowStale: boolean): void {
  const main = join(root, 'dist', 'src', 'main.js');
  if (!existsSync(main)) throw new Error('bench: dist/src/main.js missing; run `npx nest build`');
  const newest = Math.max(newestMtime(join(root, 'src')), newestMtime(join(root, 'migrations')));
  if (newest > statSync(main).mtimeMs) {
    const msg = 'bench: src/ or migrations/ changed after the last build; run `npx nest build`';
    if (!allowStale) throw new Error(`${msg} (or pass --allow-stale)`);
    console.warn(`${msg} (continuing: --allow-stale)`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Service {
  url: string;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Preloaded into the service with --profile; driven over the IPC channel (signals are taken:
 * Nest's shutdown hooks listen for SIGUSR2 among others).
 */
const profilerPreload = `
const inspector = require('node:inspector');
const fs = require('node:fs');
const session = new inspector.Session();
session.connect();
let profileName = '';
process.on('message', (msg) => {
  if (msg.startsWith('profile:start:')) {
    profileName = msg.slice('profile:start:'.length);
    session.post('Profiler.enable', () =>
      session.post('Profiler.setSamplingInterval', { interval: 200 }, () =>
        session.post('Profiler.start', () => process.send('profile:started'))));
  } else if (msg === 'profile:stop') {
    session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFileSync(process.env.BENCH_PROFILE_PREFIX + profileName + '.cpuprofile', JSON.stringify(res.profile));
      process.send(err ? 'profile:failed' : 'profile:written');
    });
  }
});
`;

function profilerCommand(child: ChildProcess, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: no answer to ${msg}`)), 30000);
    child.once('message', (reply) => {
      clearTimeout(timer);
      resolve(String(reply));
    });
    child.send(msg);
  });
}

async function startService(env: Record<string, string>, profilePrefix?: string): Promise<Service> {
  const port = await freePort();
  const logFile = join(workDir, `service-${Date.now()}.log`);
  const log = createWriteStream(logFile);
  const nodeArgs: string[] = [];
  if (profilePrefix) {
    const preload = join(workDir, 'profile-preload.cjs');
    writeFileSync(preload, profilerPreload);
    nodeArgs.push('-r', preload);
  }
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'dist', 'src', 'main.js')], {
    cwd: root,
    // Only what the service needs: nothing inherited from the caller's shell changes the result.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      // Capacity is measured here, not the per-caller rate limits.
      RATE_LIMIT_TOKEN_PER_SECOND: '0',
      RATE_LIMIT_ADDRESS_PER_SECOND: '0',
      ...(profilePrefix ? { BENCH_PROFILE_PREFIX: profilePrefix } : {}),
      ...env,
    },
    stdio: profilePrefix ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(
        `bench: service exited with ${child.exitCode}; see ${relative(root, logFile)}`,
      );
    }
    try {
      const res = await fetch(`${url}/health/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`bench: service not ready within 60 s; see ${relative(root, logFile)}`);
    }
    await sleep(200);
  }
  return { url, child, logFile, stop };
}

async function api<T>(
  svc: Service,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${svc.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`bench: ${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function seedSites(svc: Service, token: string): Promise<void> {
  // One at a time: seeding is not what is measured.
  for (let i = 0; i < siteCount; i++) {
    const name = `bench-${String(i).padStart(3, '0')}`;
    await api(svc, 'POST', '/sites', token, {
      name,
      region: ['eu-west', 'eu-central', 'us-east', 'ap-south'][i % 4],
      description: `Benchmark site ${name}`,
      loadBalancer: { host: `lb.${name}.example.net`, port: 5672 },
      expectedRttMs: 20 + (i % 80),
    });
  }
}

interface Reference {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * The reference (bench/lib/api-reference.ts): node:http and pg in their own process, the same
 * database, the same work per request (token lookup by hash, the same query, the same JSON).
 */
async function startReference(dbUrl: string): Promise<Reference> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'bench', 'lib', 'api-reference.ts'),
      dbUrl,
      String(port),
      String(poolSize),
      '1000',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH ?? '' } },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`bench: reference server exited ${c}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** CPU seconds (user + system) a process has used so far; Linux /proc only. */
function cpuSeconds(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  } catch {
    return undefined;
  }
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { average: number; p50: number; p90: number; p97_5: number; p99: number; max: number };
  requests: { average: number; total: number; stddev: number };
  throughput: { average: number };
}

/** autocannon in its own process, so the load generator does not share the service's event loop. */
function autocannon(args: string[], secret?: string): Promise<AutocannonResult> {
  const redact = (s: string) => (secret ? s.split(secret).join('<redacted>') : s);
  const shown = [relative(root, autocannonBin), ...args].map((a) =>
    /\s/.test(a) ? `"${redact(a)}"` : redact(a),
  );
  console.log(`  $ ${shown.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(autocannonBin, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0)
        return reject(new Error(`autocannon exited ${code}: ${redact(err).slice(-500)}`));
      try {
        resolve(JSON.parse(out) as AutocannonResult);
      } catch {
        reject(new Error(`autocannon printed no JSON: ${redact(out + err).slice(-500)}`));
      }
    });
  });
}

function loadArgs(url: string, duration: number, token?: string): string[] {
  return [
    '-c',
    String(connections),
    '-d',
    String(duration),
    ...(token ? ['-H', `Authorization=Bearer ${token}`] : []),
    '--json',
    url,
  ];
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function cpuPerRequestMs(
  before: number | undefined,
  after: number | undefined,
  r: AutocannonResult,
): number | undefined {
  if (before === undefined || after === undefined || r.requests.total === 0) return undefined;
  return ((after - before) * 1000) / r.requests.total;
}

function report(label: string, r: AutocannonResult, cpuMs?: number): void {
  const codes = Object.entries(r.statusCodeStats)
    .map(([code, s]) => `${code}: ${s.count}`)
    .join(', ');
  console.log(
    `  ${label}: ${fmt(r.requests.average)} req/s (${fmt(r.requests.total)} requests in ${r.duration.toFixed(1)} s)` +
      `\n    latency ms: avg ${r.latency.average.toFixed(2)}, p50 ${r.latency.p50}, p90 ${r.latency.p90}, p97.5 ${r.latency.p97_5}, p99 ${r.latency.p99}, max ${r.latency.max}` +
      `\n    errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx}; status codes {${codes}}; ${fmt(r.throughput.average / 1024 / 1024, 1)} MiB/s`,
  );
  if (cpuMs !== undefined)
    console.log(
      `    service CPU ${cpuMs.toFixed(3)} ms per request (one core's worth: ~${fmt(1000 / cpuMs)} req/s)`,
    );
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time per function (and per package), from a V8 .cpuprofile. */
function summarizeProfile(file: string, label: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const fnTotals = new Map<string, number>();
  const pkgTotals = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const shortUrl = url.replace(`file://${root}/`, '').replace(/^node:/, 'node:');
    const fn = `${functionName || '(anonymous)'} ${shortUrl ? `${shortUrl}:${lineNumber + 1}` : ''}`;
    fnTotals.set(fn, (fnTotals.get(fn) ?? 0) + us);
    const pkg =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(shortUrl)?.[1] ??
      (shortUrl.startsWith('dist/')
        ? 'crossdock (dist/)'
        : shortUrl.startsWith('node:')
          ? 'node core (JS)'
          : functionName.startsWith('(')
            ? functionName
            : shortUrl
              ? 'other'
              : 'native / V8 builtins');
    pkgTotals.set(pkg, (pkgTotals.get(pkg) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `    ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  console.log(`\n  CPU profile of the service during ${label} (${relative(root, file)})`);
  console.log(`  self time by package:\n${top(pkgTotals, 15)}`);
  console.log(`  self time by function:\n${top(fnTotals, 25)}`);
}

interface Run {
  result: AutocannonResult;
  cpuMs: number | undefined;
}

interface Endpoint {
  key: string;
  label: string;
  service: string;
  reference: string;
  token: boolean;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function measure(
  url: string,
  pid: number | undefined,
  duration: number,
  token: string | undefined,
  secret: string,
): Promise<Run> {
  const before = cpuSeconds(pid);
  const result = await autocannon(loadArgs(url, duration, token), secret);
  return { result, cpuMs: cpuPerRequestMs(before, cpuSeconds(pid), result) };
}

interface Comparison {
  endpoint: Endpoint;
  service: Run[];
  reference: Run[];
  /** Per round: service req/s / reference req/s, service p99 / reference p99. */
  throughputRatios: number[];
  p99Ratios: number[];
}

async function compare(
  endpoint: Endpoint,
  svc: Service,
  ref: Reference,
  opts: Options,
  token: string,
  beforeRound?: () => Promise<void>,
): Promise<Comparison> {
  console.log(
    `\n${endpoint.label}: service and reference alternately, ${opts.rounds} rounds of ${opts.duration} s, ${connections} connections`,
  );
  const auth = endpoint.token ? token : undefined;
  const out: Comparison = {
    endpoint,
    service: [],
    reference: [],
    throughputRatios: [],
    p99Ratios: [],
  };
  for (let round = 0; round < opts.rounds; round++) {
    await beforeRound?.();
    // Alternate which goes first, so a drift in the machine's load hits both alike.
    const order = round % 2 === 0 ? ['service', 'reference'] : ['reference', 'service'];
    for (const which of order) {
      const run =
        which === 'service'
          ? await measure(svc.url + endpoint.service, svc.child.pid, opts.duration, auth, token)
          : await measure(ref.url + endpoint.reference, ref.pid, opts.duration, auth, token);
      (which === 'service' ? out.service : out.reference).push(run);
      report(`${which} round ${round + 1}`, run.result, run.cpuMs);
    }
    const s = out.service[round].result;
    const r = out.reference[round].result;
    out.throughputRatios.push(s.requests.average / Math.max(1e-9, r.requests.average));
    out.p99Ratios.push(s.latency.p99 / Math.max(1, r.latency.p99));
  }
  return out;
}

function summaryRow(c: Comparison): string[] {
  const m = (runs: Run[], f: (r: Run) => number | undefined) =>
    median(runs.map(f).filter((x): x is number => x !== undefined));
  const side = (runs: Run[]) => [
    fmt(m(runs, (r) => r.result.requests.average)),
    `${m(runs, (r) => r.result.latency.p50)}`,
    `${m(runs, (r) => r.result.latency.p99)}`,
    m(runs, (r) => r.cpuMs).toFixed(3),
  ];
  return [
    c.endpoint.label,
    ...side(c.service),
    ...side(c.reference),
    `${median(c.throughputRatios).toFixed(2)}x`,
    `${median(c.p99Ratios).toFixed(2)}x`,
  ];
}

function printTable(rows: string[][]): void {
  const head = [
    'endpoint',
    'svc req/s',
    'svc p50',
    'svc p99',
    'svc CPU ms/req',
    'ref req/s',
    'ref p50',
    'ref p99',
    'ref CPU ms/req',
    'req/s ratio',
    'p99 ratio',
  ];
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const r of all) console.log(`  ${r.map((c, i) => c.padStart(widths[i])).join('  ')}`);
}

async function seedFederationLink(svc: Service, token: string, dbUrl: string): Promise<string> {
  const sites = await api<{ items: { id: string }[] }>(svc, 'GET', '/sites?limit=2', token);
  const cluster = (siteId: string, name: string) =>
    api<{ id: string }>(svc, 'POST', '/clusters', token, {
      siteId,
      name,
      brokerClusterName: `rabbit@${name}`,
      linkEndpoints: [{ host: `${name}.example.net`, port: 5672 }],
      vhosts: ['orders'],
      credentials: { username: 'crossdock', password: randomBytes(12).toString('hex') },
      nodes: [{ name: `rabbit@${name}`, host: '127.0.0.1', amqpPort: 1, managementPort: 1 }],
    });
  const up = await cluster(sites.items[0].id, 'bench-up');
  const down = await cluster(sites.items[1].id, 'bench-down');
  const link = await api<{ id: string }>(svc, 'POST', '/links/federation', token, {
    name: 'bench-orders',
    kind: 'exchange',
    upstream: { clusterId: up.id, vhost: 'orders' },
    downstream: { clusterId: down.id, vhost: 'orders' },
    targets: ['orders.events'],
  });
  // A verdict as the probes write it (probes are off in the bench): healthy, with values.
  await withClient(dbUrl, (c) =>
    c.query(
      `INSERT INTO link_health (link_id, link_kind, path_id, state, reasons, vals, evaluated_at, evaluated_by)
       VALUES ($1, 'federation', $2, 'healthy', '[]', $3, now(), 'bench')`,
      [
        link.id,
        `${up.id}>${down.id}`,
        JSON.stringify({
          lagMs: { p50: 21, p95: 34, last: 22 },
          lossRatio: 0,
          samples: 60,
          brokerLink: { state: 'running', since: new Date().toISOString() },
          backlog: { messages: 0 },
        }),
      ],
    ),
  );
  return link.id;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  checkBuild(opts.allowStale);
  mkdirSync(workDir, { recursive: true });

  const nodeVersion = process.version;
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  const nproc = spawnSync('nproc').stdout?.toString().trim() || String(cpus().length);
  const autocannonVersion = (
    JSON.parse(readFileSync(join(root, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  const loadBefore = load();
  if (loadavg()[0] > 0.5 * cpus().length)
    console.warn(
      `bench: warning: load average ${loadBefore} on ${cpus().length} CPUs; other work skews the figures (the ratios hold up better)`,
    );

  const db = await createDatabase('crossdock_bench');
  let svc: Service | undefined;
  let ref: Reference | undefined;
  const cleanup = async () => {
    await svc?.stop().catch(() => undefined);
    await ref?.stop().catch(() => undefined);
    await dropDatabase(db.name).catch((err: unknown) =>
      console.warn(`bench: could not drop ${db.name}: ${String(err)}`),
    );
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await runMigrations(db.url);
    const pgVersion = await withClient(db.url, async (c) => {
      const res = await c.query<{ server_version: string }>('SHOW server_version');
      return res.rows[0].server_version;
    });
    const bootstrapToken = `bench-bootstrap-${randomBytes(24).toString('hex')}`;
    const profilePrefix = opts.profile ? join(workDir, `profile-${Date.now()}-`) : undefined;
    svc = await startService(
      {
        DATABASE_URL: db.url,
        DB_POOL_SIZE: String(poolSize),
        CROSSDOCK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        CROSSDOCK_AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
        CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: bootstrapToken,
        // The HTTP path is measured: no background work against the (unreachable) seeded clusters.
        RECONCILE_ENABLED: 'false',
        PROBES_ENABLED: 'false',
        OVERFLOW_ENABLED: 'false',
      },
      profilePrefix,
    );

    // A real, database-backed admin token: the bootstrap token skips the token lookup.
    const created = await api<{ token: string }>(svc, 'POST', '/tokens', bootstrapToken, {
      name: 'bench-admin',
      role: 'admin',
    });
    const token = created.token;
    await seedSites(svc, token);
    const linkId = await seedFederationLink(svc, token, db.url);
    const healthPath = `/links/federation/${linkId}/health`;
    ref = await startReference(db.url);

    // The reference must answer what the service answers, or the comparison means nothing.
    const same = async (path: string) => {
      const [a, b] = await Promise.all(
        [svc!.url, ref!.url].map(async (base) => {
          const res = await fetch(`${base}${path}`, {
            headers: { Authorization: `Bearer ${token}` },
          });
          if (!res.ok) throw new Error(`bench: GET ${path} -> ${res.status} from ${base}`);
          return res.text();
        }),
      );
      if (a !== b)
        throw new Error(
          `bench: the reference answers GET ${path} differently:\n  service:   ${a.slice(0, 300)}\n  reference: ${b.slice(0, 300)}`,
        );
      return a;
    };
    const body = await same('/sites');
    const page = JSON.parse(body) as { items: unknown[]; nextCursor: string | null };
    if (page.items.length === 0 || page.nextCursor === null)
      throw new Error(`bench: GET /sites returned ${page.items.length} items and no next page`);
    const liveBody = await same('/health/live');
    const healthBody = await same(healthPath);
    const refreshHealth = () =>
      withClient(db.url, (c) =>
        c.query(`UPDATE link_health SET evaluated_at = now() WHERE link_id = $1`, [linkId]),
      ).then(() => undefined);

    console.log('crossdock API benchmark: the service against a node:http + pg reference');
    console.log(
      `  machine: ${nproc} CPUs (${cpuModel}), node ${nodeVersion}, PostgreSQL ${pgVersion}, autocannon ${autocannonVersion}`,
    );
    console.log(`  load average before the run: ${loadBefore}`);
    console.log(
      `  service: node dist/src/main.js, LOG_LEVEL=warn, NODE_ENV=production, DB_POOL_SIZE=${poolSize}, database ${db.name} with ${siteCount} sites`,
    );
    console.log(
      `  reference: bench/lib/api-reference.ts (node:http + pg, pool of ${poolSize}, token looked up by hash per request)`,
    );
    console.log(
      `  bodies (identical from both): GET /sites ${fmt(body.length)} bytes (${page.items.length} sites), GET /health/live ${liveBody.length} bytes, GET ${healthPath.replace(linkId, '{id}')} ${fmt(healthBody.length)} bytes`,
    );

    const endpoints: Endpoint[] = [
      { key: 'sites', label: 'GET /sites', service: '/sites', reference: '/sites', token: true },
      {
        key: 'live',
        label: 'GET /health/live',
        service: '/health/live',
        reference: '/health/live',
        token: false,
      },
      {
        key: 'health',
        label: 'GET /links/federation/{id}/health',
        service: healthPath,
        reference: healthPath,
        token: true,
      },
    ].filter((e) => !opts.only || opts.only.has(e.key));

    console.log('\nwarm-up (3 s each, not measured)');
    for (const e of endpoints) {
      await autocannon(loadArgs(svc.url + e.service, 3, e.token ? token : undefined), token);
      await autocannon(loadArgs(ref.url + e.reference, 3, e.token ? token : undefined), token);
    }

    const results: Comparison[] = [];
    for (const [i, e] of endpoints.entries()) {
      if (profilePrefix) await profilerCommand(svc.child, `profile:start:${i}`);
      results.push(
        await compare(e, svc, ref, opts, token, e.key === 'health' ? refreshHealth : undefined),
      );
      if (profilePrefix) await profilerCommand(svc.child, 'profile:stop');
    }
    const sites = results.find((c) => c.endpoint.key === 'sites');
    const live = results.find((c) => c.endpoint.key === 'live');

    console.log(`\n  load average after the runs: ${load()}`);
    console.log(
      `\nmedians of ${opts.rounds} rounds (latency in ms; ratio = service / reference, per round, median)`,
    );
    printTable(results.map(summaryRow));
    for (const c of results)
      console.log(
        `  ${c.endpoint.label}: req/s ratios ${c.throughputRatios.map((r) => r.toFixed(2)).join(', ')}; p99 ratios ${c.p99Ratios.map((r) => r.toFixed(2)).join(', ')}`,
      );

    // An endpoint left out with --only neither meets nor misses its target.
    const sitesThroughput = sites ? median(sites.throughputRatios) : Infinity;
    const sitesP99 = sites ? median(sites.p99Ratios) : 0;
    const liveThroughput = live ? median(live.throughputRatios) : Infinity;
    const errors = results.flatMap((c) =>
      [...c.service, ...c.reference]
        .filter((r) => r.result.errors + r.result.timeouts + r.result.non2xx > 0)
        .map(() => c.endpoint.label),
    );
    const failures = [
      sitesThroughput < target.sitesThroughput &&
        `GET /sites req/s ${sitesThroughput.toFixed(2)}x < ${target.sitesThroughput}x`,
      sitesP99 > target.sitesP99 && `GET /sites p99 ${sitesP99.toFixed(2)}x > ${target.sitesP99}x`,
      liveThroughput < target.liveThroughput &&
        `GET /health/live req/s ${liveThroughput.toFixed(2)}x < ${target.liveThroughput}x`,
      errors.length > 0 && `errors, timeouts or non-2xx in: ${[...new Set(errors)].join(', ')}`,
    ].filter((f): f is string => typeof f === 'string');
    console.log(
      `\ntargets (GET /sites >= ${target.sitesThroughput}x the reference's req/s and p99 <= ${target.sitesP99}x its p99; ` +
        `GET /health/live >= ${target.liveThroughput}x plain node:http; no errors): ${
          failures.length === 0 ? 'MET' : `MISSED (${failures.join('; ')})`
        }`,
    );

    if (profilePrefix) {
      for (const [i, e] of endpoints.entries()) {
        const file = `${profilePrefix}${i}.cpuprofile`;
        if (existsSync(file)) summarizeProfile(file, e.label);
        else console.warn(`bench: the service wrote no CPU profile for ${e.label}`);
      }
    }
    return failures.length === 0 ? 0 : 1;
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
