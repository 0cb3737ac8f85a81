/**
 * Audit trail benchmark: 1,000,000 events, filtered queries and full exports against the built
 * service. See docs/benchmarks.md ("Audit trail").
 *
 *   npx nest build && npx tsx bench/audit.ts [--events N] [--requests N] [--duration S]
 *                                             [--connections C] [--skip-verify] [--allow-stale]
 *
 * 1. creates a throw-away database (crossdock_bench_audit_*), migrates it and seeds N events
 *    (bench/lib/audit-seed.ts: set-based SQL, a real HMAC chain, then VACUUM ANALYZE);
 * 2. starts `node dist/src/main.js` on a free port (LOG_LEVEL=warn, NODE_ENV=production,
 *    AUDIT_CHECKPOINT_INTERVAL_MS=0, random keys and bootstrap admin token, nothing else from the
 *    caller's environment);
 * 3. GET /audit?siteId&from&to (random site, window of 1 h .. 30 d, half of them ending now) and
 *    GET /audit?resourceType=cluster&resourceId: sequential requests, then autocannon at modest
 *    concurrency in a separate process; p50/p95/p99 per kind against the target p95 < 50 ms;
 *    EXPLAIN (ANALYZE, BUFFERS) of the same SQL for a typical and the slowest request of each kind;
 * 4. GET /audit/export (NDJSON and CSV) of the newest 100k events and of all of them, streamed and
 *    counted without buffering, while the service's VmRSS is read from /proc every 100 ms: peak
 *    RSS per export must not grow with the row count; one more export whose client stops
 *    reading for 6 s (back-pressure: once the socket buffers are full the service must idle);
 * 5. GET /audit/verify over the whole chain (skip with --skip-verify);
 * 6. stops the service and drops the database, also on failure and on Ctrl-C.
 *
 * Exits 1 when a target is missed. The bootstrap token is never printed (the load generator gets
 * it through its environment).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { Client } from 'pg';
import { runMigrations } from '../src/database/migrate';
import { createDatabase, dropDatabase } from '../test/helpers/postgres';
import { seedAuditEvents, type SeedResult } from './lib/audit-seed';
import { percentile, runLoad, type LoadResult } from './lib/load-worker';
import {
  checkBuild,
  cpuSecondsOf,
  memoryOf,
  mib,
  resetPeakRss,
  root,
  sampleRss,
  sleep,
  startService,
  type RssSample,
  type Service,
} from './lib/service';

const workDir = join(root, '.local', 'bench');
const targetP95Ms = 50;
/** Peak RSS of the full export may exceed the 100k export's by at most this much ("flat"). */
const flatToleranceMiB = 64;
const hour = 3600 * 1000;
const windows: { label: string; ms: number }[] = [
  { label: '1 h', ms: hour },
  { label: '6 h', ms: 6 * hour },
  { label: '1 d', ms: 24 * hour },
  { label: '7 d', ms: 7 * 24 * hour },
  { label: '30 d', ms: 30 * 24 * hour },
];

interface Options {
  events: number;
  requests: number;
  duration: number;
  connections: number;
  verify: boolean;
  allowStale: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    events: 1_000_000,
    requests: 300,
    duration: 10,
    connections: 4,
    verify: true,
    allowStale: false,
  };
  const num = (i: number) => {
    const v = argv[i + 1] ?? '';
    if (!/^\d+$/.test(v)) throw new Error(`bench: ${argv[i]} needs a number`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--events') opts.events = num(i++);
    else if (a === '--requests') opts.requests = num(i++);
    else if (a === '--duration') opts.duration = num(i++);
    else if (a === '--connections') opts.connections = num(i++);
    else if (a === '--skip-verify') opts.verify = false;
    else if (a === '--allow-stale') opts.allowStale = true;
    else throw new Error(`bench: unknown argument ${a}`);
  }
  if (opts.events < 10000) throw new Error('bench: --events must be at least 10000');
  return opts;
}

/** Deterministic choices, so two runs ask the same questions (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');

// ---------------------------------------------------------------------------------------------
// Filtered queries

interface Probe {
  kind: 'site+range' | 'resource';
  group: string;
  path: string;
  /** The same query as AuditQueryService.list, for EXPLAIN. */
  sql: string;
  params: unknown[];
}

interface Timed {
  probe: Probe;
  ms: number;
  items: number;
  status: number;
  /** seq of every item returned, to compare with the rewritten query. */
  seqs: string[];
}

const columns = `seq, occurred_at, actor_kind, actor_id, actor_name, action, resource_type,
  resource_id, resource_name, site_ids, cluster_ids, request_id, payload, prev_hash, hash`;
const pageSize = 50;

function siteProbes(seed: SeedResult, n: number, random: () => number): Probe[] {
  const first = seed.firstAt.getTime();
  const end = seed.lastAt.getTime() + 1000;
  return Array.from({ length: n }, (_, i) => {
    const w = windows[i % windows.length];
    const site = seed.siteIds[Math.floor(random() * seed.siteIds.length)];
    // Half "the last <window>", half a window anywhere in the 90 days.
    const recent = random() < 0.5;
    const to = recent ? end : first + w.ms + Math.floor(random() * (end - first - w.ms));
    const from = new Date(to - w.ms);
    const toDate = new Date(to);
    return {
      kind: 'site+range',
      group: `${w.label}${recent ? ', ending now' : ''}`,
      path: `/audit?siteId=${site}&from=${from.toISOString()}&to=${toDate.toISOString()}`,
      sql: `SELECT ${columns} FROM audit_events WHERE site_ids @> ARRAY[$1]::uuid[] AND occurred_at >= $2 AND occurred_at < $3
       ORDER BY seq DESC LIMIT $4`,
      params: [site, from, toDate, pageSize + 1],
    };
  });
}

function resourceProbes(seed: SeedResult, n: number, random: () => number): Probe[] {
  return Array.from({ length: n }, () => {
    const cluster = seed.clusterIds[Math.floor(random() * seed.clusterIds.length)];
    return {
      kind: 'resource',
      group: 'cluster',
      path: `/audit?resourceType=cluster&resourceId=${cluster}`,
      sql: `SELECT ${columns} FROM audit_events WHERE resource_type = $1 AND resource_id = $2
       ORDER BY seq DESC LIMIT $3`,
      params: ['cluster', cluster, pageSize + 1],
    };
  });
}

async function timedGet(svc: Service, token: string, probe: Probe): Promise<Timed> {
  const t0 = performance.now();
  const res = await fetch(`${svc.url}${probe.path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await res.text();
  const elapsed = performance.now() - t0;
  const seqs = res.ok
    ? (JSON.parse(text) as { items: { seq: string }[] }).items.map((i) => i.seq)
    : [];
  return { probe, ms: elapsed, items: seqs.length, status: res.status, seqs };
}

interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: number;
}

function summarize(rows: Pick<Timed, 'ms' | 'status'>[]): Summary {
  const sorted = rows.map((r) => r.ms).sort((a, b) => a - b);
  return {
    n: rows.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    errors: rows.filter((r) => r.status !== 200).length,
  };
}

const line = (s: Summary) =>
  `p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)}  max ${ms(s.max)} ms` +
  (s.errors ? `  (${s.errors} non-200)` : '');

async function sequential(svc: Service, token: string, probes: Probe[]): Promise<Timed[]> {
  const out: Timed[] = [];
  for (const p of probes) out.push(await timedGet(svc, token, p));
  return out;
}

function loadWorker(
  svc: Service,
  token: string,
  paths: string[],
  connections: number,
  duration: number,
): Promise<LoadResult> {
  return runLoad(svc.url, token, paths, connections, duration, workDir);
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Scan Direction'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Actual Total Time': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Exact Heap Blocks'?: number;
  'Lossy Heap Blocks'?: number;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  'Sort Method'?: string;
  Plans?: PlanNode[];
}

/** EXPLAIN (ANALYZE, BUFFERS) of the service's SQL with the same parameters; a compact tree. */
async function explain(c: Client, probe: Probe, label: string): Promise<string[]> {
  const { rows } = await c.query<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }>(
    `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${probe.sql}`,
    probe.params,
  );
  const { Plan, 'Execution Time': execMs } = rows[0]['QUERY PLAN'][0];
  const indexes = new Set<string>();
  const out: string[] = [];
  const walk = (n: PlanNode, depth: number) => {
    if (n['Index Name']) indexes.add(n['Index Name']);
    const bits = [
      `rows ${fmt(n['Actual Rows'] * n['Actual Loops'])}`,
      n['Rows Removed by Filter'] ? `removed by filter ${fmt(n['Rows Removed by Filter'])}` : '',
      n['Rows Removed by Index Recheck']
        ? `removed by recheck ${fmt(n['Rows Removed by Index Recheck'])}`
        : '',
      n['Exact Heap Blocks'] !== undefined
        ? `heap blocks ${fmt(n['Exact Heap Blocks'])}${n['Lossy Heap Blocks'] ? ` (+${fmt(n['Lossy Heap Blocks'])} lossy)` : ''}`
        : '',
      n['Sort Method'] ?? '',
      `buffers hit ${fmt(n['Shared Hit Blocks'])} read ${fmt(n['Shared Read Blocks'])}`,
      `${n['Actual Total Time'].toFixed(2)} ms`,
    ].filter(Boolean);
    const what = [
      n['Node Type'],
      n['Scan Direction'] === 'Backward' ? '(backward)' : '',
      n['Index Name']
        ? `on ${n['Index Name']}`
        : n['Relation Name']
          ? `on ${n['Relation Name']}`
          : '',
    ]
      .filter(Boolean)
      .join(' ');
    out.push(`      ${'  '.repeat(depth)}-> ${what}: ${bits.join(', ')}`);
    for (const child of n.Plans ?? []) walk(child, depth + 1);
  };
  walk(Plan, 0);
  return [
    `    ${label}: ${execMs.toFixed(2)} ms in Postgres, indexes used: ${indexes.size ? [...indexes].join(', ') : 'none (sequential scan)'}`,
    ...out,
  ];
}

/**
 * The fix proposed for site + time range (and for exports with from/to), run directly in SQL:
 * resolve the time range to a seq range first (two index probes of ix_audit_events_time), then
 * pass the bounds as values instead of the time predicates, so the planner can seek the primary
 * key to the end of the window instead of walking back from the newest event, and knows how many
 * rows the window holds. Exact when occurred_at never decreases along seq (true of the seeded
 * data; see docs/benchmarks.md for what the service needs to guarantee it).
 */
const boundsSql = `SELECT
  (SELECT seq FROM audit_events WHERE occurred_at >= $1 ORDER BY occurred_at, seq LIMIT 1) AS lo,
  (SELECT seq FROM audit_events WHERE occurred_at < $2 ORDER BY occurred_at DESC, seq DESC LIMIT 1) AS hi`;

function rewrittenSiteSql(probe: Probe, lo: string, hi: string): Probe {
  return {
    ...probe,
    // The occurred_at predicates go: the seq range says the same thing, and left in they make
    // the planner multiply two selectivities that are really one (seq and time are correlated).
    sql: `SELECT ${columns} FROM audit_events WHERE site_ids @> ARRAY[$1]::uuid[]
       AND seq >= $2 AND seq <= $3 ORDER BY seq DESC LIMIT $4`,
    params: [probe.params[0], lo, hi, probe.params[3]],
  };
}

async function timedSql(
  c: Client,
  probe: Probe,
  rewritten: boolean,
): Promise<{ ms: number; status: number; seqs: string[]; probe: Probe }> {
  const t0 = performance.now();
  let run = probe;
  if (rewritten) {
    const [, from, to] = probe.params as [string, Date, Date];
    const { rows } = await c.query<{ lo: string | null; hi: string | null }>(boundsSql, [from, to]);
    if (rows[0].lo === null || rows[0].hi === null)
      return { ms: performance.now() - t0, status: 200, seqs: [], probe };
    run = rewrittenSiteSql(probe, rows[0].lo, rows[0].hi);
  }
  const { rows } = await c.query<{ seq: string }>(run.sql, run.params);
  return {
    ms: performance.now() - t0,
    status: 200,
    seqs: rows.slice(0, pageSize).map((r) => r.seq),
    probe: run,
  };
}

// ---------------------------------------------------------------------------------------------
// Exports

interface ExportRun {
  label: string;
  rows: number;
  bytes: number;
  ttfbMs: number;
  totalMs: number;
  baselineRss: number;
  peakRss: number;
  hwm: number | undefined;
  samples: RssSample[];
  stall?: StallInfo;
}

/**
 * A stalled reader: for the first `settleMs` the service may still fill the socket buffers
 * (kernel and client, several MB on loopback); after that, with back-pressure, it must be idle.
 */
interface StallInfo {
  atRows: number;
  settleCpuMs: number;
  rssAfterSettle: number;
  rssMaxAfterSettle: number;
  cpuMsAfterSettle: number;
  measuredMs: number;
}

/**
 * Streams one export, counting lines as they arrive (nothing is kept), while sampling the
 * service's RSS. With `stallAt`, stops reading for `stallMs` once that many rows have arrived.
 */
async function runExport(
  svc: Service,
  token: string,
  label: string,
  query: string,
  headerLines: number,
  stall?: { atRows: number; settleMs: number; measureMs: number },
): Promise<ExportRun> {
  await sleep(1000);
  const baselineRss = memoryOf(svc.pid).rss;
  const hwmReset = resetPeakRss(svc.pid);
  let lines = 0;
  let bytes = 0;
  const sampler = sampleRss(svc.pid, () => Math.max(0, lines - headerLines));
  const t0 = performance.now();
  let ttfb = 0;
  let stallInfo: ExportRun['stall'];
  await new Promise<void>((resolve, reject) => {
    const req = httpGet(
      `${svc.url}/audit/export?${query}`,
      { headers: { authorization: `Bearer ${token}` } },
      (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () =>
            reject(new Error(`bench: export ${label} -> ${res.statusCode} ${body.slice(0, 300)}`)),
          );
          return;
        }
        let stalled = false;
        res.on('data', (chunk: Buffer) => {
          if (ttfb === 0) ttfb = performance.now() - t0;
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
          if (stall && !stalled && lines - headerLines >= stall.atRows) {
            stalled = true;
            res.pause();
            const atRows = lines - headerLines;
            const cpu0 = cpuSecondsOf(svc.pid);
            setTimeout(() => {
              const cpu1 = cpuSecondsOf(svc.pid);
              const rssAfterSettle = memoryOf(svc.pid).rss;
              let rssMaxAfterSettle = rssAfterSettle;
              const timer = setInterval(() => {
                rssMaxAfterSettle = Math.max(rssMaxAfterSettle, memoryOf(svc.pid).rss);
              }, 100);
              setTimeout(() => {
                clearInterval(timer);
                stallInfo = {
                  atRows,
                  settleCpuMs: (cpu1 - cpu0) * 1000,
                  rssAfterSettle,
                  rssMaxAfterSettle,
                  cpuMsAfterSettle: (cpuSecondsOf(svc.pid) - cpu1) * 1000,
                  measuredMs: stall.measureMs,
                };
                res.resume();
              }, stall.measureMs);
            }, stall.settleMs);
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
  const totalMs = performance.now() - t0;
  const samples = sampler.stop();
  return {
    label,
    rows: lines - headerLines,
    bytes,
    ttfbMs: ttfb,
    totalMs,
    baselineRss,
    peakRss: Math.max(...samples.map((s) => s.rss)),
    hwm: hwmReset ? memoryOf(svc.pid).hwm : undefined,
    samples,
    stall: stallInfo,
  };
}

/** Highest RSS within each quarter of the rows: growing with rows shows up as a slope. */
function quarters(run: ExportRun): string {
  const q = [0, 0, 0, 0];
  for (const s of run.samples) {
    const i = Math.min(3, Math.floor((4 * s.progress) / Math.max(1, run.rows)));
    q[i] = Math.max(q[i], s.rss);
  }
  return q.map((v) => (v ? fmt(mib(v)) : '-')).join(' / ');
}

function reportExport(r: ExportRun): void {
  const secs = r.totalMs / 1000;
  console.log(
    `  ${r.label}: ${fmt(r.rows)} rows, ${fmt(r.bytes / 1024 / 1024)} MiB in ${secs.toFixed(1)} s = ` +
      `${fmt(r.rows / secs)} rows/s (${fmt(r.bytes / 1024 / 1024 / secs, 1)} MiB/s), first byte after ${fmt(r.ttfbMs)} ms`,
  );
  console.log(
    `    service RSS: ${fmt(mib(r.baselineRss))} MiB before, peak ${fmt(mib(r.peakRss))} MiB sampled` +
      (r.hwm !== undefined ? ` (VmHWM ${fmt(mib(r.hwm))} MiB)` : '') +
      `; peak per quarter of the rows ${quarters(r)} MiB`,
  );
  if (r.stall)
    console.log(
      `    client stopped reading at ${fmt(r.stall.atRows)} rows: service CPU ${fmt(r.stall.settleCpuMs)} ms in the first 2 s (filling socket buffers), ` +
        `then ${fmt(r.stall.cpuMsAfterSettle)} ms in ${fmt(r.stall.measuredMs / 1000)} s, RSS ${fmt(mib(r.stall.rssAfterSettle))} -> max ${fmt(mib(r.stall.rssMaxAfterSettle))} MiB (waiting for 'drain')`,
    );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  checkBuild(opts.allowStale);
  mkdirSync(workDir, { recursive: true });
  const log = (s: string) => console.log(`  ${s}`);
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');

  const db = await createDatabase('crossdock_bench_audit');
  let svc: Service | undefined;
  let client: Client | undefined;
  const cleanup = async () => {
    await svc?.stop().catch(() => undefined);
    await client?.end().catch(() => undefined);
    await dropDatabase(db.name).catch((err: unknown) =>
      console.warn(`bench: could not drop ${db.name}: ${String(err)}`),
    );
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await runMigrations(db.url);
    client = new Client({ connectionString: db.url });
    await client.connect();
    const c = client;
    const setting = async (name: string) =>
      (await c.query<Record<string, string>>(`SHOW ${name}`)).rows[0][name];
    const pg = {
      version: await setting('server_version'),
      sharedBuffers: await setting('shared_buffers'),
      workMem: await setting('work_mem'),
    };
    const autocannonVersion = (
      JSON.parse(
        readFileSync(join(root, 'node_modules', 'autocannon', 'package.json'), 'utf8'),
      ) as { version: string }
    ).version;

    console.log('crossdock audit trail benchmark');
    console.log(
      `  machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${fmt(totalmem() / 1024 ** 3)} GiB RAM, ` +
        `node ${process.version}, PostgreSQL ${pg.version} (shared_buffers ${pg.sharedBuffers}, work_mem ${pg.workMem}), autocannon ${autocannonVersion}`,
    );
    console.log(`  load average before the run: ${load()}`);
    if (loadavg()[0] > 0.5 * cpus().length)
      console.warn(`bench: warning: the machine is busy; other work skews the figures`);

    // 1. Seed
    console.log(`\nseeding ${fmt(opts.events)} events into ${db.name}`);
    const hmacKey = randomBytes(32).toString('base64');
    const seed = await seedAuditEvents(c, opts.events, hmacKey, log);
    const indexTotal = Object.values(seed.indexBytes).reduce((a, b) => a + b, 0);
    log(
      `seeded in ${seed.timings.totalS.toFixed(1)} s total; table ${fmt(mib(seed.tableBytes))} MiB, ` +
        `indexes ${fmt(mib(indexTotal))} MiB (${Object.entries(seed.indexBytes)
          .map(([k, v]) => `${k} ${fmt(mib(v))}`)
          .join(', ')})`,
    );
    log(
      `occurred_at from ${seed.firstAt.toISOString()} to ${seed.lastAt.toISOString()}; hashes form a real chain (checked on a sample)`,
    );

    // 2. Service
    const token = `bench-bootstrap-${randomBytes(24).toString('hex')}`;
    svc = await startService(
      {
        DATABASE_URL: db.url,
        CROSSDOCK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        CROSSDOCK_AUDIT_HMAC_KEY: hmacKey,
        CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: token,
        AUDIT_CHECKPOINT_INTERVAL_MS: '0',
      },
      workDir,
    );
    const service = svc;
    log(
      `service: node dist/src/main.js (pid ${svc.pid}), LOG_LEVEL=warn, NODE_ENV=production, log ${relative(root, svc.logFile)}`,
    );

    // 3. Queries
    const random = prng(20251122);
    const sites = siteProbes(seed, opts.requests, random);
    const resources = resourceProbes(seed, opts.requests, random);
    console.log(
      `\nfiltered queries, sequential (one request at a time, keep-alive; ${opts.requests} each after 40 warm-up requests)`,
    );
    await sequential(service, token, [
      ...siteProbes(seed, 20, prng(1)),
      ...resourceProbes(seed, 20, prng(2)),
    ]);
    const siteRuns = await sequential(service, token, sites);
    const resourceRuns = await sequential(service, token, resources);
    const siteSummary = summarize(siteRuns);
    const resourceSummary = summarize(resourceRuns);
    console.log(`  GET /audit?siteId&from&to          ${line(siteSummary)}`);
    for (const w of windows) {
      for (const recent of [false, true]) {
        const group = `${w.label}${recent ? ', ending now' : ''}`;
        const rows = siteRuns.filter((r) => r.probe.group === group);
        if (rows.length === 0) continue;
        const items = rows.reduce((a, r) => a + r.items, 0) / rows.length;
        console.log(
          `    window ${group.padEnd(17)} ${line(summarize(rows))}  (${rows.length} requests, ${items.toFixed(0)} items per page on average)`,
        );
      }
    }
    console.log(`  GET /audit?resourceType=cluster&id ${line(resourceSummary)}`);

    console.log(
      `\nfiltered queries under load (autocannon ${autocannonVersion} in a separate process, ${opts.connections} connections, ${opts.duration} s each, random request per call)`,
    );
    const loadResults: { label: string; r: LoadResult }[] = [];
    for (const [label, probes] of [
      ['GET /audit?siteId&from&to', siteProbes(seed, 2000, prng(3))],
      ['GET /audit?resourceType=cluster&id', resourceProbes(seed, 2000, prng(4))],
    ] as const) {
      const cpu0 = cpuSecondsOf(service.pid);
      const r = await loadWorker(
        service,
        token,
        probes.map((p) => p.path),
        opts.connections,
        opts.duration,
      );
      const cpuMs = ((cpuSecondsOf(service.pid) - cpu0) * 1000) / Math.max(1, r.requests);
      loadResults.push({ label, r });
      console.log(
        `  ${label.padEnd(34)} ${fmt(r.reqPerSec)} req/s, p50 ${ms(r.latencyMs.p50)}  p95 ${ms(r.latencyMs.p95)}  p99 ${ms(r.latencyMs.p99)}  max ${ms(r.latencyMs.max)} ms; ` +
          `${fmt(r.requests)} requests, ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx; service CPU ${cpuMs.toFixed(2)} ms per request`,
      );
    }

    console.log('\nquery plans (EXPLAIN (ANALYZE, BUFFERS) of the service SQL, same parameters)');
    for (const [label, runs] of [
      ['site + time range', siteRuns],
      ['resource', resourceRuns],
    ] as const) {
      const byTime = [...runs].sort((a, b) => a.ms - b.ms);
      const median = byTime[Math.floor(byTime.length / 2)];
      const slowest = byTime[byTime.length - 1];
      for (const [which, t] of [
        ['median', median],
        ['slowest', slowest],
      ] as const) {
        const head = `${label}, ${which} request (${ms(t.ms)} ms over HTTP, ${t.probe.group}, ${t.items} items)`;
        for (const l of await explain(c, t.probe, head)) console.log(l);
      }
    }

    console.log(
      '\nproposed fix for site + time range, measured directly in SQL (no HTTP), same requests in the same order:',
    );
    console.log(
      '  resolve from/to to a seq range (2 probes of ix_audit_events_time), then add seq >= lo AND seq <= hi as values',
    );
    const currentSql: Awaited<ReturnType<typeof timedSql>>[] = [];
    const fixedSql: Awaited<ReturnType<typeof timedSql>>[] = [];
    let mismatches = 0;
    for (const t of siteRuns) {
      currentSql.push(await timedSql(c, t.probe, false));
      const f = await timedSql(c, t.probe, true);
      fixedSql.push(f);
      if (f.seqs.join(',') !== t.seqs.join(',')) mismatches++;
    }
    const fixedSummary = summarize(fixedSql);
    console.log(`  current query, in SQL   ${line(summarize(currentSql))}`);
    console.log(`  with the seq range      ${line(fixedSummary)}`);
    for (const w of windows) {
      for (const recent of [false, true]) {
        const group = `${w.label}${recent ? ', ending now' : ''}`;
        const cur = currentSql.filter((r) => r.probe.group === group);
        const fix = fixedSql.filter((r) => r.probe.group === group);
        if (fix.length === 0) continue;
        console.log(
          `    window ${group.padEnd(17)} current p95 ${ms(summarize(cur).p95).padStart(7)} ms -> ${line(summarize(fix))}`,
        );
      }
    }
    console.log(
      `  same events as the service returned: ${mismatches === 0 ? `yes, for all ${fixedSql.length} requests` : `NO, ${mismatches} requests differ`}`,
    );
    {
      const slowestHttp = [...siteRuns].sort((a, b) => b.ms - a.ms)[0];
      const slowestFixed = [...fixedSql].sort((a, b) => b.ms - a.ms)[0];
      const again = await timedSql(c, slowestHttp.probe, true);
      for (const l of await explain(
        c,
        again.probe,
        `rewritten, the request slowest over HTTP (${slowestHttp.probe.group})`,
      ))
        console.log(l);
      for (const l of await explain(
        c,
        slowestFixed.probe,
        `rewritten, the slowest rewritten request (${slowestFixed.probe.group}, ${ms(slowestFixed.ms)} ms)`,
      ))
        console.log(l);
    }

    // 4. Exports
    const small = Math.min(100000, Math.floor(opts.events / 10));
    const { rows: smallFrom } = await c.query<{ at: Date }>(
      `SELECT occurred_at AS at FROM audit_events WHERE seq = $1`,
      [opts.events - small + 1],
    );
    const since = `from=${smallFrom[0].at.toISOString()}`;
    console.log(
      `\nexports (streamed by the client and counted line by line; service VmRSS sampled every 100 ms)`,
    );
    const exportsRun: ExportRun[] = [];
    for (const [label, query, header] of [
      [`NDJSON, newest ${fmt(small)} events`, `format=ndjson&${since}`, 0],
      [`NDJSON, all ${fmt(opts.events)} events`, 'format=ndjson', 0],
      [`CSV, newest ${fmt(small)} events`, `format=csv&${since}`, 1],
      [`CSV, all ${fmt(opts.events)} events`, 'format=csv', 1],
    ] as const) {
      const r = await runExport(service, token, label, query, header);
      exportsRun.push(r);
      reportExport(r);
    }
    const stalled = await runExport(
      service,
      token,
      `NDJSON, newest ${fmt(small)} events, client stops reading for 6 s halfway`,
      `format=ndjson&${since}`,
      0,
      { atRows: Math.floor(small / 2), settleMs: 2000, measureMs: 4000 },
    );
    reportExport(stalled);
    {
      // Why the newest-100k export waits before its first byte: its first batch, and the same
      // batch with the range resolved to seq bounds first.
      const batch = (extra: string) =>
        `SELECT ${columns} FROM audit_events
         WHERE seq > $1 ${extra} AND ($2::timestamptz IS NULL OR occurred_at >= $2) AND ($3::timestamptz IS NULL OR occurred_at < $3)
         ORDER BY seq LIMIT 1000`;
      const from = smallFrom[0].at;
      const first: Probe = {
        kind: 'site+range',
        group: 'export',
        path: '',
        sql: batch(''),
        params: ['0', from, null],
      };
      for (const l of await explain(c, first, `export, first batch of the newest ${fmt(small)}`))
        console.log(l);
      const { rows: b } = await c.query<{ lo: string; hi: string }>(boundsSql, [from, 'infinity']);
      const fixedFirst: Probe = {
        ...first,
        sql: `SELECT ${columns} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 1000`,
        params: [String(BigInt(b[0].lo) - 1n), b[0].hi],
      };
      for (const l of await explain(c, fixedFirst, `export, same batch starting at seq ${b[0].lo}`))
        console.log(l);
    }

    // 5. Verify
    let verifyLine = 'skipped (--skip-verify)';
    if (opts.verify) {
      const sampler = sampleRss(service.pid, () => 0);
      resetPeakRss(service.pid);
      const t0 = performance.now();
      const res = await fetch(`${service.url}/audit/verify`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await res.json()) as { ok: boolean; checkedEvents: number };
      const secs = (performance.now() - t0) / 1000;
      const peak = Math.max(...sampler.stop().map((s) => s.rss));
      verifyLine = `${res.status} ok=${body.ok}, ${fmt(body.checkedEvents)} events in ${secs.toFixed(1)} s (${fmt(body.checkedEvents / secs)} events/s), service peak RSS ${fmt(mib(peak))} MiB`;
      if (!body.ok || body.checkedEvents !== opts.events)
        throw new Error(`bench: GET /audit/verify: ${JSON.stringify(body)}`);
    }
    console.log(`\nGET /audit/verify (whole chain): ${verifyLine}`);
    console.log(`\n  load average after the runs: ${load()}`);

    // Targets
    const failures: string[] = [];
    const check = (what: string, p95: number, errors: number) => {
      if (!(p95 < targetP95Ms)) failures.push(`${what} p95 ${ms(p95)} ms >= ${targetP95Ms} ms`);
      if (errors > 0) failures.push(`${what}: ${errors} errors or non-2xx`);
    };
    check('site+range (sequential)', siteSummary.p95, siteSummary.errors);
    if (mismatches > 0) failures.push(`proposed site+range rewrite: ${mismatches} results differ`);
    check('resource (sequential)', resourceSummary.p95, resourceSummary.errors);
    for (const { label, r } of loadResults)
      check(
        `${label} (${opts.connections} connections)`,
        r.latencyMs.p95,
        r.errors + r.timeouts + r.non2xx,
      );
    for (const [smallRun, fullRun] of [
      [exportsRun[0], exportsRun[1]],
      [exportsRun[2], exportsRun[3]],
    ]) {
      const growth = mib(fullRun.peakRss - smallRun.peakRss);
      console.log(
        `  ${fullRun.label.split(',')[0]} export peak RSS: ${fmt(mib(smallRun.peakRss))} MiB for ${fmt(smallRun.rows)} rows, ` +
          `${fmt(mib(fullRun.peakRss))} MiB for ${fmt(fullRun.rows)} rows (${growth >= 0 ? '+' : ''}${fmt(growth)} MiB)`,
      );
      if (growth > flatToleranceMiB)
        failures.push(`${fullRun.label}: peak RSS grew by ${fmt(growth)} MiB with the rows`);
      if (smallRun.rows !== small || fullRun.rows !== opts.events)
        failures.push(`${fullRun.label}: got ${fmt(smallRun.rows)} / ${fmt(fullRun.rows)} rows`);
    }
    if (
      stalled.stall &&
      (mib(stalled.stall.rssMaxAfterSettle - stalled.stall.rssAfterSettle) > 16 ||
        stalled.stall.cpuMsAfterSettle > 400)
    )
      failures.push('export with a stalled client: the service kept working or growing');
    console.log(
      `\ntargets (p95 < ${targetP95Ms} ms for site+range and resource queries, sequential and under load, no errors; ` +
        `export peak RSS flat: 1M rows within ${flatToleranceMiB} MiB of 100k rows): ${
          failures.length === 0 ? 'MET' : `MISSED\n  - ${failures.join('\n  - ')}`
        }`,
    );
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
