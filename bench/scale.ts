/**
 * Scale benchmark (#8): 20 sites x 2 clusters, about 10,000 managed broker objects, reconciled by
 * the built service over real HTTP against real RabbitMQ 3.10 brokers. See docs/benchmarks.md.
 *
 *   npx nest build && npx tsx bench/scale.ts [--brokers N] [--sites N] [--policies N]
 *       [--links N] [--shovels N] [--connections N] [--duration S] [--passes N]
 *       [--sites-state FILE] [--no-filter] [--allow-stale]
 *
 * Scheme: forty real clusters do not fit on two cores, so the 40 crossdock clusters are tenants of
 * `--brokers` real brokers (default 4: scripts/sites dc1, dc2 with two nodes, dc3, dc4 with one).
 * Site i lives on broker i mod N; each of its two clusters owns one vhost of its own there (the
 * cluster's documented vhost scope: nothing outside it is observed, updated or deleted), has its
 * own management endpoint (a local front per real node, bench/lib/mgmt-proxy.ts, which counts the
 * requests crossing it and cuts the bulk listings down to the tenant's vhosts so the service
 * parses what a broker of its own would return; --no-filter passes them whole) and its own
 * broker cluster name in the registry. Global names on a broker are shared the way they would
 * be on one real cluster: the link user (clusters on one broker get one link credential, written
 * in the registry by the bench) and the probe vhost (links are laid out so no two tenants of a
 * broker need a probe object of the same name: federation upstreams and shovel destinations
 * are 1..N-1 sites away, never on the same broker).
 *
 * Registry, through the REST API: per cluster `--links` exchange/queue federation links from
 * three clusters of other sites, `--shovels` shovels to three other sites, `--policies` cluster
 * policies; compiled, that is about 250 broker objects per cluster (upstreams, merged policies,
 * the federation-queue guard, shovels, probe objects). Target exchanges are not declared, so
 * federation policies start no link process (only the probe paths run): this measures the
 * control plane.
 *
 * Measured, in one run: the cold apply (POST /reconcile of every cluster); then, once a pass
 * writes nothing, `--passes` full no-op passes alone (wall time, HTTP requests at the fronts,
 * service RSS); GET p50/p99 of realistic reads (GET /sites, /clusters, /links/federation,
 * /policies, /links/shovels pages and single clusters) at `--connections` connections for
 * `--duration` s, idle, then while full no-op passes run back to back; service RSS, heap and
 * event-loop delay meanwhile; the same reads again at a fixed `--rate` req/s (default 100), idle
 * and during passes. Target: GET p99 during the passes < 50 ms; exit 1 when missed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { Client } from 'pg';
import { linkUserAad, newLinkPassword, newSalt } from '../src/clusters/link-user-credentials';
import { SecretBox } from '../src/common/crypto/secret-box';
import { redactString } from '../src/common/logging/redact';
import { runMigrations } from '../src/database/migrate';
import { probeNames, probeVhost } from '../src/probes/probe-topology';
import { createDatabase, dropDatabase } from '../test/helpers/postgres';
import { loadSites, TestManagement, type LocalSite, type SitesState } from '../test/helpers/sites';
import {
  pickBasePort,
  pinProcesses,
  siteProcesses,
  startPrivateSites,
  type AcquiredSites,
} from './lib/local-sites';
import { runLoad, type LoadResult } from './lib/load-worker';
import { startTenantProxy, type TenantProxy } from './lib/mgmt-proxy';
import { profilerOptions, startProfile, stopProfile, summarizeProfile } from './lib/profile';
import {
  checkBuild,
  cpuSecondsOf,
  cpuSecondsOfAll,
  memoryOf,
  postgresCpuSeconds,
  mib,
  root,
  sampleRss,
  sleep,
  startService,
  type Service,
} from './lib/service';

const workDir = join(root, '.local', 'bench');
const sitesDir = join(root, '.local', 'bench-scale-sites');
const target = { getP99Ms: 50 };
const enc = encodeURIComponent;
const log = (msg: string) => console.error(`[bench] ${msg}`);

interface Options {
  brokers: number;
  sites: number;
  policies: number;
  links: number;
  shovels: number;
  connections: number;
  duration: number;
  /** Requests per second of the fixed-rate GET windows (0 = none). */
  rate: number;
  passes: number;
  setupConcurrency: number;
  sitesState?: string;
  filter: boolean;
  /**
   * Pin the sites' processes (brokers, WAN proxy) to the last CPU, off the CPU the service can
   * have to itself: the 40 clusters stand in for remote data centers, whose background work
   * (shovels, federation links, statistics) runs on their own hosts. --no-confine shares every CPU.
   */
  confine: boolean;
  allowStale: boolean;
  /** Policies through POST /policies too (default: one bulk INSERT of the same rows). */
  apiPolicies: boolean;
  /** A V8 CPU profile of the service over one more full no-op pass, after the figures. */
  profile: boolean;
  /** Keep sites, service and database up after the report, until Ctrl-C (for investigation). */
  hold: boolean;
  /** Extra Node.js options for the service, e.g. `--trace-gc`. */
  nodeArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    brokers: 4,
    sites: 20,
    policies: 180,
    links: 20,
    shovels: 6,
    connections: 4,
    duration: 20,
    rate: 100,
    passes: 3,
    setupConcurrency: 4,
    filter: true,
    confine: cpus().length >= 2,
    allowStale: false,
    apiPolicies: false,
    profile: false,
    hold: false,
    nodeArgs: [],
  };
  const numeric: Record<string, keyof Options> = {
    '--brokers': 'brokers',
    '--sites': 'sites',
    '--policies': 'policies',
    '--links': 'links',
    '--shovels': 'shovels',
    '--connections': 'connections',
    '--duration': 'duration',
    '--rate': 'rate',
    '--passes': 'passes',
    '--setup-concurrency': 'setupConcurrency',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-filter') o.filter = false;
    else if (a === '--no-confine') o.confine = false;
    else if (a === '--allow-stale') o.allowStale = true;
    else if (a === '--api-policies') o.apiPolicies = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--hold') o.hold = true;
    else if (a === '--node-args') o.nodeArgs = (argv[++i] ?? '').split(' ').filter(Boolean);
    else if (a === '--sites-state') o.sitesState = argv[++i];
    else if (numeric[a] && /^\d+$/.test(argv[i + 1] ?? '')) {
      (o as unknown as Record<string, number>)[numeric[a]] = Number(argv[++i]);
    } else throw new Error(`bench: bad argument ${a}`);
  }
  if (o.brokers < 2 || o.brokers > 12) throw new Error('bench: --brokers must be 2..12');
  if (o.sites < o.brokers) throw new Error('bench: --sites must be >= --brokers');
  if (o.passes < 1 || o.connections < 1 || o.duration < 1 || o.setupConcurrency < 1)
    throw new Error('bench: --passes, --connections, --duration, --setup-concurrency >= 1');
  return o;
}

// ------------------------------------------------------------------ the service's API

/** One request; node:http, not fetch: a full cold pass answers after more than fetch's 300 s. */
function send(
  url: string,
  token: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': payload.length }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function api<T>(svc: Service, token: string, method: string, path: string, body?: unknown) {
  let res: { status: number; text: string };
  for (let attempt = 1; ; attempt++) {
    res = await send(`${svc.url}${path}`, token, method, body);
    if (res.status !== 503 || attempt >= 5) break;
    log(`${method} ${path} -> 503; retrying in 2 s`);
    await sleep(2000);
  }
  if (res.status < 200 || res.status >= 300)
    throw new Error(`${method} ${path} -> ${res.status} ${res.text.slice(0, 300)}`);
  return (res.text ? JSON.parse(res.text) : undefined) as T;
}

/** Runs `jobs` with at most `n` in flight; rejects on the first failure. */
async function pool(n: number, jobs: (() => Promise<unknown>)[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
}

// ------------------------------------------------------------------ the modelled world

interface Tenant {
  site: number;
  letter: 'a' | 'b';
  label: string;
  broker: LocalSite;
  vhost: string;
  proxy: TenantProxy;
  siteId: string;
  clusterId: string;
  /** Names of the probe objects this cluster's paths need (filled in with the topology). */
  probeNames: Set<string>;
}

/**
 * The probe vhost is one per broker, shared by its tenants: a tenant sees there what a broker of
 * its own would hold, the objects of its own probe paths (named after itself or after the far
 * cluster of one of its paths) and the federation queues and bindings around them.
 */
function keepProbeItem(item: Record<string, unknown>, t: Tenant, names: Set<string>): boolean {
  if (item.vhost !== probeVhost) return true;
  const mine = (v: unknown) => typeof v === 'string' && (v.includes(t.clusterId) || names.has(v));
  if (typeof item.name === 'string') return mine(item.name);
  return mine(item.source) || mine(item.destination);
}

const pad2 = (n: number) => String(n).padStart(2, '0');
const tenantOf = (tenants: Tenant[], site: number, letter: 'a' | 'b', sites: number) =>
  tenants.find((t) => t.site === ((site % sites) + sites) % sites && t.letter === letter) as Tenant;

/**
 * Offsets (in sites) of a cluster's upstreams and shovel destinations: 1..brokers-1, so never
 * on the cluster's own broker, and no two tenants of one broker share an upstream or a
 * destination (probe objects are named after the far cluster).
 */
const offsets = (brokers: number) =>
  Array.from({ length: Math.min(3, brokers - 1) }, (_, i) => i + 1);

function policyBody(t: Tenant, i: number) {
  const n = String(i).padStart(4, '0');
  const families = [
    {
      pattern: `^app\\.orders\\.${n}(\\..*)?$`,
      applyTo: 'queues',
      definition: {
        'max-length': 10000 + i,
        overflow: 'drop-head',
        'dead-letter-exchange': 'app.overflow',
        'dead-letter-routing-key': `app.overflow.${n}`,
      },
    },
    {
      pattern: `^app\\.limits\\.${n}$`,
      applyTo: 'queues',
      definition: { 'message-ttl': 3600000, expires: 86400000, 'max-length-bytes': 104857600 },
    },
    { pattern: `^app\\.lazy\\.${n}$`, applyTo: 'queues', definition: { 'queue-mode': 'lazy' } },
    {
      pattern: `^app\\.events\\.${n}$`,
      applyTo: 'exchanges',
      definition: { 'alternate-exchange': 'app.unrouted' },
    },
  ];
  const f = families[i % families.length];
  return {
    name: `p-${t.label}-${n}`,
    scope: 'cluster',
    clusterId: t.clusterId,
    vhost: t.vhost,
    pattern: f.pattern,
    applyTo: f.applyTo,
    priority: i % 10,
    definition: f.definition,
  };
}

// ------------------------------------------------------------------ measurement helpers

interface RunView {
  status: string;
  error: string | null;
  summary: {
    desired?: number;
    observed?: number;
    creates?: number;
    updates?: number;
    deletes?: number;
    observeRequests?: number;
  };
  findings: { kind: string; detail?: string }[];
}

interface PassFigures {
  ms: number;
  requests: number;
  writes: number;
  ops: number;
  desired: number;
  notSucceeded: string[];
  findings: Map<string, number>;
  /** One finding's text per kind (redacted by the service). */
  samples: Map<string, string>;
}

async function fullPass(svc: Service, token: string, tenants: Tenant[]): Promise<PassFigures> {
  for (const t of tenants) t.proxy.reset();
  const t0 = performance.now();
  const { runs } = await api<{ runs: RunView[] }>(svc, token, 'POST', '/reconcile', {});
  const ms = performance.now() - t0;
  const findings = new Map<string, number>();
  const samples = new Map<string, string>();
  for (const r of runs)
    for (const f of r.findings) {
      findings.set(f.kind, (findings.get(f.kind) ?? 0) + 1);
      if (!samples.has(f.kind)) samples.set(f.kind, f.detail ?? '');
    }
  return {
    ms,
    requests: tenants.reduce((n, t) => n + t.proxy.counts.requests, 0),
    writes: tenants.reduce((n, t) => n + t.proxy.counts.writes, 0),
    ops: runs.reduce(
      (n, r) => n + (r.summary.creates ?? 0) + (r.summary.updates ?? 0) + (r.summary.deletes ?? 0),
      0,
    ),
    desired: runs.reduce((n, r) => n + (r.summary.desired ?? 0), 0),
    notSucceeded: runs
      .filter((r) => r.status !== 'succeeded')
      .map((r) => `${r.status}${r.error ? `: ${redactString(r.error).slice(0, 160)}` : ''}`),
    findings,
    samples,
  };
}

/** Gauges from one scrape of /metrics (a scrape also resets the event-loop delay histogram). */
async function metrics(svc: Service, ...names: string[]): Promise<number[]> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  return names.map((name) => {
    const m = new RegExp(`^crossdock_${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  });
}

const heapUsed = async (svc: Service) => (await metrics(svc, 'nodejs_heap_size_used_bytes'))[0];
const loopDelay = async (svc: Service) => {
  const [p99, max] = await metrics(
    svc,
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_eventloop_lag_max_seconds',
  );
  return { p99, max };
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtMs = (ms: number) =>
  ms >= 100 ? `${Math.round(ms).toLocaleString('en-US')} ms` : `${ms.toFixed(1)} ms`;
const fmtN = (n: number) => n.toLocaleString('en-US');
const fmtLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${r.map((cell, i) => (cell ?? '').padEnd(widths[i])).join(' | ')} |`;
  return [
    line(rows[0]),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

const describeLoad = (r: LoadResult) =>
  `p50 ${fmtMs(r.latencyMs.p50)}, p99 ${fmtMs(r.latencyMs.p99)}, max ${fmtMs(r.latencyMs.max)}; ` +
  `${fmtN(r.requests)} req (${r.reqPerSec.toFixed(0)}/s), non-2xx ${r.non2xx}, errors ${r.errors}`;

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  checkBuild(opts.allowStale);
  mkdirSync(workDir, { recursive: true });
  const loadBefore = loadavg();
  let sites: AcquiredSites | undefined;
  let db: { name: string; url: string } | undefined;
  let svc: Service | undefined;
  const tenants: Tenant[] = [];
  const vhostsMade: { m: TestManagement; vhost: string }[] = [];
  const mgmtOf = new Map<string, TestManagement>();
  let cleaned = false;
  let pinned: number[] = [];
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await svc?.stop().catch(() => undefined);
    for (const t of tenants) await t.proxy.close().catch(() => undefined);
    if (sites && !sites.started) {
      // A shared instance: leave it as found (deleting a vhost deletes what it holds).
      // The probe vhost too: the service created it, and its objects name this run's clusters.
      for (const { m, vhost } of vhostsMade)
        await m.request('DELETE', `/api/vhosts/${enc(vhost)}`).catch(() => undefined);
      for (const m of mgmtOf.values())
        await m.request('DELETE', `/api/vhosts/${enc(probeVhost)}`).catch(() => undefined);
    }
    if (db) await dropDatabase(db.name).catch((e: unknown) => log(`drop ${db?.name}: ${e}`));
    if (pinned.length) pinProcesses(pinned, `0-${cpus().length - 1}`);
    sites?.release();
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    if (opts.sitesState) {
      const state = loadSites(opts.sitesState);
      if (state.sites.length < opts.brokers)
        throw new Error(`bench: ${opts.sitesState} has ${state.sites.length} sites`);
      sites = { state, statePath: opts.sitesState, started: false, release: () => undefined };
    } else {
      const base = await pickBasePort(opts.brokers);
      sites = startPrivateSites(log, {
        sites: opts.brokers,
        dir: sitesDir,
        base,
        startTimeoutS: 300,
      });
    }
    const state: SitesState = sites.state;
    const brokers = state.sites.slice(0, opts.brokers);
    const sitePids = siteProcesses(state, sites.statePath);
    // With --confine the bench runs beside the sites too (its management fronts stand for the
    // brokers' own listeners); the service and the load workers get every CPU.
    const everyCpu = opts.confine ? `0-${cpus().length - 1}` : undefined;
    if (opts.confine) {
      const sideCpu = String(cpus().length - 1);
      pinned = sitePids;
      if (!pinProcesses([...pinned, process.pid], sideCpu))
        throw new Error('bench: taskset failed (--no-confine?)');
      log(
        `sites confined to CPU ${sideCpu}: ${pinned.length} processes (brokers, WAN proxy) and ` +
          `this bench (management fronts)`,
      );
    }

    db = await createDatabase('crossdock_bench_scale');
    await runMigrations(db.url);
    const encryptionKey = randomBytes(32).toString('base64');
    const token = `bench-bootstrap-${randomBytes(24).toString('hex')}`;
    svc = await startService(
      {
        DATABASE_URL: db.url,
        CROSSDOCK_ENCRYPTION_KEY: encryptionKey,
        CROSSDOCK_AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
        CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: token,
        // Passes are started by the bench (POST /reconcile of every cluster, the same sequential
        // loop the schedule runs); no change-triggered pass interleaves with the setup.
        RECONCILE_ENABLED: 'false',
        RECONCILE_INTERVAL_MS: '0',
        PROBES_ENABLED: 'false',
        OVERFLOW_ENABLED: 'false',
      },
      workDir,
      opts.profile
        ? {
            ...profilerOptions(workDir),
            nodeArgs: [...opts.nodeArgs, ...profilerOptions(workDir).nodeArgs],
            cpus: everyCpu,
          }
        : { nodeArgs: opts.nodeArgs, cpus: everyCpu },
    );
    log(`service up (pid ${svc.pid}, ${relative(root, svc.logFile)})`);

    // ---------------------------------------------------------------- registry
    const tSetup = performance.now();
    for (const b of brokers) mgmtOf.set(b.name, TestManagement.forSite(state, b.name));
    const mgmt = mgmtOf;
    for (let s = 0; s < opts.sites; s++) {
      const broker = brokers[s % brokers.length];
      const site = await api<{ id: string }>(svc, token, 'POST', '/sites', {
        name: `site-${pad2(s)}`,
        region: `region-${s % 5}`,
        expectedRttMs: 20 + s,
      });
      for (const letter of ['a', 'b'] as const) {
        const label = `s${pad2(s)}${letter}`;
        const vhost = `t.${label}`;
        const m = mgmt.get(broker.name) as TestManagement;
        vhostsMade.push({ m, vhost });
        await m.request('PUT', `/api/vhosts/${enc(vhost)}`, {});
        await m.request('PUT', `/api/permissions/${enc(vhost)}/${enc(state.admin.username)}`, {
          configure: '.*',
          write: '.*',
          read: '.*',
        });
        const scope = { vhosts: new Set([vhost, probeVhost]), probeNames: new Set<string>() };
        const proxy = await startTenantProxy(
          broker.nodes.map((n) => ({ host: n.host, port: n.managementPort })),
          opts.filter
            ? {
                vhosts: scope.vhosts,
                keep: (item) => keepProbeItem(item, tenant, scope.probeNames),
              }
            : undefined,
        );
        const tenant: Tenant = {
          site: s,
          letter,
          label,
          broker,
          vhost,
          proxy,
          siteId: site.id,
          clusterId: '',
          probeNames: scope.probeNames,
        };
        tenants.push(tenant);
        const cluster = await api<{ id: string }>(svc, token, 'POST', '/clusters', {
          siteId: site.id,
          name: letter,
          brokerClusterName: `${broker.clusterName}.${label}`,
          linkEndpoints: [broker.link],
          vhosts: [vhost],
          credentials: state.admin,
          nodes: broker.nodes.map((n, j) => ({
            name: n.name,
            host: '127.0.0.1',
            amqpPort: n.amqpPort,
            managementPort: proxy.ports[j],
            type: n.type,
          })),
        });
        tenant.clusterId = cluster.id;
      }
    }
    // One link credential per real broker: its tenants share the broker's link user, as the
    // clusters of one real broker would.
    const box = new SecretBox(encryptionKey);
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    try {
      for (const b of brokers) {
        const secret = { password: newLinkPassword(), salt: newSalt() };
        for (const t of tenants.filter((x) => x.broker === b))
          await pg.query(
            `UPDATE clusters SET link_user_password_enc = $2, link_user_salt = $3 WHERE id = $1`,
            [t.clusterId, box.encrypt(secret.password, linkUserAad(t.clusterId, 'a')), secret.salt],
          );
      }
    } finally {
      await pg.end();
    }

    const jobs: (() => Promise<unknown>)[] = [];
    const offs = offsets(brokers.length);
    for (const t of tenants) {
      for (let j = 0; j < opts.links; j++) {
        const up = tenantOf(tenants, t.site + offs[j % offs.length], t.letter, opts.sites);
        t.probeNames.add(probeNames.upstream(up.clusterId));
        t.probeNames.add(probeNames.federationQueue(up.clusterId));
        t.probeNames.add(probeNames.federationPolicy(up.clusterId));
        const kind = j % 4 === 3 ? 'queue' : 'exchange';
        const name = `f-${up.label}-${t.label}-${pad2(j)}`;
        jobs.push(() =>
          api(svc as Service, token, 'POST', '/links/federation', {
            name,
            kind,
            upstream: { clusterId: up.clusterId, vhost: up.vhost },
            downstream: { clusterId: t.clusterId, vhost: t.vhost },
            targets: [kind === 'exchange' ? `fx.${name}` : `fq.${name}`],
          }),
        );
      }
      for (let k = 0; k < opts.shovels; k++) {
        const to = tenantOf(tenants, t.site + offs[k % offs.length], t.letter, opts.sites);
        t.probeNames.add(probeNames.shovelSource(to.clusterId));
        t.probeNames.add(probeNames.shovel(to.clusterId));
        to.probeNames.add(probeNames.shovelDestination(t.clusterId));
        const name = `sh-${t.label}-${to.label}-${pad2(k)}`;
        jobs.push(() =>
          api(svc as Service, token, 'POST', '/links/shovels', {
            name,
            source: { clusterId: t.clusterId, vhost: t.vhost, queue: `outbox.${name}` },
            destination: { clusterId: to.clusterId, vhost: to.vhost, queue: `inbox.${name}` },
          }),
        );
      }
      if (opts.apiPolicies)
        for (let i = 0; i < opts.policies; i++)
          jobs.push(() => api(svc as Service, token, 'POST', '/policies', policyBody(t, i)));
    }
    const tJobs = performance.now();
    let done = 0;
    const progress = setInterval(
      () => log(`registry: ${done}/${jobs.length} rows (${fmtMs(performance.now() - tJobs)})`),
      30000,
    );
    try {
      await pool(
        opts.setupConcurrency,
        jobs.map((j) => async () => {
          await j();
          done++;
        }),
      );
    } finally {
      clearInterval(progress);
    }
    const registryMs = performance.now() - tJobs;
    let sqlPolicies = 0;
    let sqlMs = 0;
    if (!opts.apiPolicies) {
      // The rows POST /policies inserts (the API adds an audit event per row and a conflict
      // check; these patterns name distinct objects, so no conflict is possible).
      const t0 = performance.now();
      const rows = tenants.flatMap((t) =>
        Array.from({ length: opts.policies }, (_, i) => policyBody(t, i)),
      );
      await queryDb(
        db,
        `INSERT INTO policies (name, scope, cluster_id, vhost, pattern, apply_to, priority, definition)
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(name varchar, scope varchar, "clusterId" uuid,
           vhost varchar, pattern varchar, "applyTo" varchar, priority int, definition jsonb)`,
        [JSON.stringify(rows)],
      );
      sqlPolicies = rows.length;
      sqlMs = performance.now() - t0;
      log(`registry: ${fmtN(sqlPolicies)} policies in one INSERT in ${fmtMs(sqlMs)}`);
    }
    log(
      `registry: ${opts.sites} sites, ${tenants.length} clusters, ${fmtN(jobs.length)} rows via ` +
        `the REST API in ${fmtMs(registryMs)} (concurrency ${opts.setupConcurrency})`,
    );

    // ---------------------------------------------------------------- cold apply, then quiet
    const cold = await fullPass(svc, token, tenants);
    log(
      `cold apply: ${fmtMs(cold.ms)}, ${fmtN(cold.requests)} HTTP requests (${fmtN(cold.writes)} writes), ` +
        `${fmtN(cold.ops)} ops, ${fmtN(cold.desired)} desired objects, ${cold.notSucceeded.length} not succeeded` +
        (cold.notSucceeded.length ? ` (${[...new Set(cold.notSucceeded)].join('; ')})` : ''),
    );
    let converge = 0;
    for (;;) {
      const p = await fullPass(svc, token, tenants);
      converge++;
      log(
        `converging pass ${converge}: ${fmtMs(p.ms)}, ${p.ops} ops, ${p.writes} writes, ` +
          `${p.notSucceeded.length} not succeeded`,
      );
      if (p.ops === 0 && p.writes === 0 && p.notSucceeded.length === 0) break;
      if (converge >= 5) throw new Error('bench: no quiet pass after 5 passes');
      await sleep(2000);
    }
    const setupS = (performance.now() - tSetup) / 1000;
    const [{ n: ledgerRows }] = (await queryDb(
      db,
      `SELECT count(*)::int AS n FROM managed_objects`,
    )) as { n: number }[];

    // ---------------------------------------------------------------- no-op passes, alone
    await sleep(3000);
    const rssIdle = memoryOf(svc.pid).rss;
    const heapIdle = await heapUsed(svc);
    const aloneRss = sampleRss(svc.pid, () => 0, 100);
    const alone: PassFigures[] = [];
    const cpu0 = [cpuSecondsOf(svc.pid), postgresCpuSeconds(), cpuSecondsOfAll(sitePids)];
    for (let i = 0; i < opts.passes; i++) alone.push(await fullPass(svc, token, tenants));
    const cpu1 = [cpuSecondsOf(svc.pid), postgresCpuSeconds(), cpuSecondsOfAll(sitePids)];
    const passCpuMs = cpu1.map((x, i) => ((x - cpu0[i]) * 1000) / opts.passes);
    const aloneSamples = aloneRss.stop();
    const heapAfterAlone = await heapUsed(svc);

    // ---------------------------------------------------------------- GET load, idle vs passes
    const clusterPaths = tenants.slice(0, 8).map((t) => `/clusters/${t.clusterId}`);
    const paths = [
      '/sites?limit=50',
      '/clusters?limit=50',
      '/links/federation?limit=50',
      '/links/shovels?limit=50',
      '/policies?limit=50',
      ...clusterPaths,
    ];
    await sleep(2000);
    await loopDelay(svc); // resets the delay histogram
    const loadIdleAvg = loadavg();
    const url = svc.url;
    const load = (rate?: number) =>
      runLoad(url, token, paths, opts.connections, opts.duration, workDir, rate, everyCpu);
    const idle = await load();
    const lagIdle = await loopDelay(svc);
    // The same reads at a fixed rate (open loop), well below saturation: what a client sees
    // at an ordinary load, beside the saturated figures above.
    const idleRate = opts.rate ? await load(opts.rate) : undefined;
    let stop = false;
    const during: PassFigures[] = [];
    const duringRss = sampleRss(svc.pid, () => 0, 100);
    const passes = (async () => {
      while (!stop) during.push(await fullPass(svc as Service, token, tenants));
    })();
    await sleep(500); // the first pass is under way
    const busy = await load();
    const lagBusy = await loopDelay(svc);
    const busyRate = opts.rate ? await load(opts.rate) : undefined;
    stop = true;
    await passes;
    const duringSamples = duringRss.stop();
    const loadBusyAvg = loadavg();
    await sleep(3000);
    const rssAfter = memoryOf(svc.pid).rss;
    const heapAfter = await heapUsed(svc);
    const loadAfter = loadavg();
    let profileLines: string[] = [];
    if (opts.profile) {
      const file = join(workDir, `scale-profile-${Date.now()}.cpuprofile`);
      await startProfile(svc.child, file);
      const p = await fullPass(svc, token, tenants);
      await stopProfile(svc.child);
      profileLines = summarizeProfile(file, `one full no-op pass (${fmtMs(p.ms)}), profiled`);
    }

    // ---------------------------------------------------------------- report
    const noopMs = alone.map((p) => p.ms);
    const noopReq = alone.map((p) => p.requests);
    const quietAll = [...alone, ...during].every(
      (p) => p.ops === 0 && p.writes === 0 && p.notSucceeded.length === 0,
    );
    const peak = (xs: { rss: number }[]) => Math.max(...xs.map((x) => x.rss));
    const ratio = busy.latencyMs.p99 / idle.latencyMs.p99;
    const ok = busy.latencyMs.p99 < target.getP99Ms && busy.non2xx === 0 && busy.errors === 0;
    const findings = new Map<string, number>();
    for (const [k, n] of alone[alone.length - 1].findings) findings.set(k, n);
    const perBroker = brokers
      .map((b) => `${b.name} ${tenants.filter((t) => t.broker === b).length}`)
      .join(', ');

    const out: string[] = [];
    out.push('');
    out.push(
      `Scale benchmark: ${opts.sites} sites x 2 clusters = ${tenants.length} crossdock clusters as ` +
        `vhost tenants of ${brokers.length} real RabbitMQ brokers (${perBroker}); listings ` +
        `${opts.filter ? 'cut to each tenant’s vhosts' : 'passed whole (--no-filter)'}; ` +
        `node ${process.version}, ${cpus().length} CPUs; ` +
        (opts.confine
          ? `sites' processes and the bench's management fronts confined to CPU ${cpus().length - 1} (--no-confine shares every CPU)`
          : 'sites share every CPU with the service (--no-confine)'),
    );
    out.push(
      `registry: ${opts.links} federation links, ${opts.shovels} shovels, ${opts.policies} ` +
        `policies per cluster: ${fmtN(jobs.length)} rows via the REST API in ${fmtMs(registryMs)} ` +
        `(${((jobs.length * 1000) / registryMs).toFixed(1)}/s at concurrency ${opts.setupConcurrency})` +
        `${sqlPolicies ? `, ${fmtN(sqlPolicies)} policies by one bulk INSERT in ${fmtMs(sqlMs)}` : ''}; ` +
        `${fmtN(alone[0].desired)} desired broker objects, ${fmtN(ledgerRows)} ledger rows; setup ${setupS.toFixed(0)} s`,
    );
    out.push(
      `load average: start ${fmtLoad(loadBefore)}; idle GET window ${fmtLoad(loadIdleAvg)}; ` +
        `after the busy window ${fmtLoad(loadBusyAvg)}; end ${fmtLoad(loadAfter)}`,
    );
    out.push('');
    out.push(
      table([
        ['measurement', 'figure', 'HTTP requests to brokers', 'note'],
        [
          'cold apply, all clusters (POST /reconcile)',
          fmtMs(cold.ms),
          `${fmtN(cold.requests)} (${fmtN(cold.writes)} writes)`,
          `${fmtN(cold.ops)} ops; then ${converge} pass(es) to a quiet one`,
        ],
        [
          `full no-op pass, ${tenants.length} clusters, alone (${opts.passes}x)`,
          `median ${fmtMs(median(noopMs))} (${noopMs.map(fmtMs).join(', ')})`,
          `${noopReq.join(', ')} (${(median(noopReq) / tenants.length).toFixed(1)} per cluster; writes ${alone.reduce((n, p) => n + p.writes, 0)})`,
          `${fmtMs(median(noopMs) / tenants.length)} per cluster`,
        ],
        [
          'CPU per full no-op pass (mean of the passes alone)',
          `service ${fmtMs(passCpuMs[0])}, Postgres ${fmtMs(passCpuMs[1])}, sites ${fmtMs(passCpuMs[2])}`,
          '',
          `${fmtMs(passCpuMs[0] / tenants.length)} service CPU per cluster; /proc utime + stime (Postgres: every backend, with those that exited)`,
        ],
        [
          `full no-op passes during the busy GET window`,
          `${during.length} passes, median ${fmtMs(median(during.map((p) => p.ms)))}`,
          `${median(during.map((p) => p.requests))} per pass`,
          quietAll ? 'every pass: no op, no write' : 'SOME PASS WROTE OR FAILED',
        ],
        [
          `GET p99, ${opts.connections} conn, idle`,
          fmtMs(idle.latencyMs.p99),
          '',
          describeLoad(idle),
        ],
        [
          `GET p99, ${opts.connections} conn, during full passes`,
          `${fmtMs(busy.latencyMs.p99)} (${ratio.toFixed(2)}x idle)`,
          '',
          `${describeLoad(busy)}; target < ${target.getP99Ms} ms: ${ok ? 'PASS' : 'FAIL'}`,
        ],
        ...(idleRate && busyRate
          ? [
              [
                `GET p99 at ${opts.rate} req/s (${opts.connections} conn), idle`,
                fmtMs(idleRate.latencyMs.p99),
                '',
                describeLoad(idleRate),
              ],
              [
                `GET p99 at ${opts.rate} req/s, during full passes`,
                `${fmtMs(busyRate.latencyMs.p99)} (${(busyRate.latencyMs.p99 / idleRate.latencyMs.p99).toFixed(2)}x idle)`,
                '',
                `${describeLoad(busyRate)}; target < ${target.getP99Ms} ms: ${busyRate.latencyMs.p99 < target.getP99Ms ? 'PASS' : 'FAIL'}`,
              ],
            ]
          : []),
        [
          'event-loop delay p99 / max',
          `idle ${fmtMs(lagIdle.p99 * 1000)} / ${fmtMs(lagIdle.max * 1000)}; during ${fmtMs(lagBusy.p99 * 1000)} / ${fmtMs(lagBusy.max * 1000)}`,
          '',
          'prom-client monitorEventLoopDelay over each window',
        ],
        [
          'service RSS',
          `idle ${mib(rssIdle).toFixed(0)} MiB; peak ${mib(peak(aloneSamples)).toFixed(0)} MiB (passes alone), ${mib(peak(duringSamples)).toFixed(0)} MiB (passes + GETs); after ${mib(rssAfter).toFixed(0)} MiB`,
          '',
          'VmRSS every 100 ms',
        ],
        [
          'service heap used',
          `idle ${mib(heapIdle).toFixed(0)} MiB; after passes ${mib(heapAfterAlone).toFixed(0)} MiB; end ${mib(heapAfter).toFixed(0)} MiB`,
          '',
          'nodejs_heap_size_used_bytes',
        ],
      ]),
    );
    out.push('');
    out.push(
      `findings per no-op pass: ${[...findings].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`,
    );
    for (const [k, d] of alone[alone.length - 1].samples)
      out.push(`  e.g. ${k}: ${redactString(d).slice(0, 240)}`);
    const failures = new Map<string, number>();
    for (const p of [...alone, ...during])
      for (const f of p.notSucceeded) failures.set(f, (failures.get(f) ?? 0) + 1);
    for (const [f, n] of failures) out.push(`  not succeeded x${n}: ${f}`);
    out.push(...profileLines);
    out.push(`GET paths: ${paths.slice(0, 5).join(', ')}, and /clusters/{id} of 8 clusters`);
    console.log(out.join('\n'));
    if (opts.hold) await hold(svc, token, paths);
    return ok && quietAll ? 0 : 1;
  } finally {
    await cleanup();
  }
}

/** --hold: everything stays up until Ctrl-C; the token goes to a file only its owner reads. */
async function hold(svc: Service, token: string, paths: string[]): Promise<void> {
  const file = join(workDir, 'scale-hold.json');
  writeFileSync(file, JSON.stringify({ url: svc.url, token, pid: svc.pid, paths }, null, 2), {
    mode: 0o600,
  });
  log(
    `holding: service ${svc.url} (pid ${svc.pid}); token and GET paths in ${relative(root, file)}; Ctrl-C ends`,
  );
  await new Promise(() => undefined);
}

async function queryDb(db: { url: string }, sql: string, params?: unknown[]): Promise<unknown[]> {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as unknown[];
  } finally {
    await c.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${redactString(err instanceof Error ? err.message : String(err))}`);
    process.exit(1);
  },
);
