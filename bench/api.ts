/**
 * API throughput benchmark: GET /sites (100 sites, default page size, auth on, no caching)
 * against the built service, with GET /health/live as the ceiling. See docs/benchmarks.md.
 *
 *   npx nest build && npx tsx bench/api.ts [--allow-stale] [--profile] [--duration N]
 *
 * Creates a throw-away database, starts `node dist/src/main.js` on a free port, creates an admin
 * token through the API, seeds 100 sites, then runs autocannon in a separate process. Exits 1
 * when the target (>= 3,000 req/s and p99 < 20 ms, no errors) is missed.
 *
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
const target = { reqPerSec: 3000, p99Ms: 20 };
const siteCount = 100;
const connections = 50;

interface Options {
  allowStale: boolean;
  profile: boolean;
  duration: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { allowStale: false, profile: false, duration: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--allow-stale') opts.allowStale = true;
    else if (a === '--profile') opts.profile = true;
    else if (a === '--duration' && /^\d+$/.test(argv[i + 1] ?? ''))
      opts.duration = Number(argv[++i]);
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

/**
 * Machine reference: plain node:http in its own process answering the same GET /sites body from
 * memory (no framework, no auth, no database). What this box can do for that response size.
 */
async function startReference(
  body: string,
): Promise<{ url: string; pid: number | undefined; stop(): Promise<void> }> {
  const port = await freePort();
  const bodyFile = join(workDir, 'reference-body.json');
  writeFileSync(bodyFile, body);
  const code = `const b = require('node:fs').readFileSync(process.argv[1]);
require('node:http').createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': b.length });
  res.end(b);
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.stdout.write('ready'));`;
  const child = spawn(process.execPath, ['-e', code, bodyFile, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`bench: reference server exited ${c}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
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
      `bench: warning: load average ${loadBefore} on ${cpus().length} CPUs; other work skews the figures`,
    );

  const db = await createDatabase('crossdock_bench');
  let svc: Service | undefined;
  const cleanup = async () => {
    await svc?.stop().catch(() => undefined);
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
        CROSSDOCK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        CROSSDOCK_AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
        CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: bootstrapToken,
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
    const page = await api<{ items: unknown[]; nextCursor: string | null }>(
      svc,
      'GET',
      '/sites',
      token,
    );
    if (page.items.length === 0 || page.nextCursor === null)
      throw new Error(`bench: GET /sites returned ${page.items.length} items and no next page`);
    const body = JSON.stringify(page);

    console.log('crossdock API benchmark');
    console.log(
      `  machine: ${nproc} CPUs (${cpuModel}), node ${nodeVersion}, PostgreSQL ${pgVersion}, autocannon ${autocannonVersion}`,
    );
    console.log(`  load average before the run: ${loadBefore}`);
    console.log(
      `  service: node dist/src/main.js, LOG_LEVEL=warn, NODE_ENV=production, database ${db.name} with ${siteCount} sites`,
    );
    console.log(
      `  GET /sites returns ${page.items.length} sites per page (default page size), ${fmt(body.length)} bytes`,
    );

    console.log('\nwarm-up (3 s each, not measured)');
    await autocannon(loadArgs(`${svc.url}/sites`, 3, token), token);
    await autocannon(loadArgs(`${svc.url}/health/live`, 3), token);

    console.log(`\nGET /sites (${connections} connections, ${opts.duration} s)`);
    if (profilePrefix) await profilerCommand(svc.child, 'profile:start:sites');
    const sitesCpu = cpuSeconds(svc.child.pid);
    const sites = await autocannon(loadArgs(`${svc.url}/sites`, opts.duration, token), token);
    const sitesCpuMs = cpuPerRequestMs(sitesCpu, cpuSeconds(svc.child.pid), sites);
    if (profilePrefix) await profilerCommand(svc.child, 'profile:stop');
    report('GET /sites', sites, sitesCpuMs);

    console.log(
      `\nGET /health/live, the ceiling: no auth, no database (${connections} connections, ${opts.duration} s)`,
    );
    if (profilePrefix) await profilerCommand(svc.child, 'profile:start:live');
    const liveCpu = cpuSeconds(svc.child.pid);
    const live = await autocannon(loadArgs(`${svc.url}/health/live`, opts.duration), token);
    const liveCpuAfter = cpuSeconds(svc.child.pid);
    if (profilePrefix) await profilerCommand(svc.child, 'profile:stop');
    report('GET /health/live', live, cpuPerRequestMs(liveCpu, liveCpuAfter, live));

    console.log(
      `\nreference: plain node:http serving the same ${fmt(body.length)}-byte body from memory (${connections} connections, ${opts.duration} s)`,
    );
    const ref = await startReference(body);
    let reference: AutocannonResult;
    let referenceCpuMs: number | undefined;
    try {
      const before = cpuSeconds(ref.pid);
      reference = await autocannon(loadArgs(`${ref.url}/sites`, opts.duration));
      referenceCpuMs = cpuPerRequestMs(before, cpuSeconds(ref.pid), reference);
    } finally {
      await ref.stop();
    }
    report('reference', reference, referenceCpuMs);

    console.log(`\n  load average after the runs: ${load()}`);
    const ratio = sites.requests.average / live.requests.average;
    if (live.requests.average > 0)
      console.log(
        `\n  GET /sites reaches ${(ratio * 100).toFixed(0)}% of the /health/live ceiling`,
      );
    if (reference.requests.average > 0)
      console.log(
        `  GET /sites reaches ${((100 * sites.requests.average) / reference.requests.average).toFixed(0)}% of the plain node:http reference`,
      );
    const failures = [
      sites.requests.average < target.reqPerSec &&
        `${fmt(sites.requests.average)} req/s < ${fmt(target.reqPerSec)}`,
      sites.latency.p99 >= target.p99Ms && `p99 ${sites.latency.p99} ms >= ${target.p99Ms} ms`,
      sites.errors + sites.timeouts + sites.non2xx > 0 &&
        `${sites.errors} errors, ${sites.timeouts} timeouts, ${sites.non2xx} non-2xx`,
    ].filter((f): f is string => typeof f === 'string');
    console.log(
      `\ntarget (GET /sites >= ${fmt(target.reqPerSec)} req/s, p99 < ${target.p99Ms} ms, no errors): ${
        failures.length === 0 ? 'MET' : `MISSED (${failures.join('; ')})`
      }`,
    );

    if (profilePrefix) {
      for (const [name, label] of [
        ['sites', 'GET /sites'],
        ['live', 'GET /health/live'],
      ]) {
        const file = `${profilePrefix}${name}.cpuprofile`;
        if (existsSync(file)) summarizeProfile(file, label);
        else console.warn(`bench: the service wrote no CPU profile for ${label}`);
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
