/**
 * Reconciler benchmark: one cluster (dc1 of the local sites) holding 1,000 managed policies,
 * 100 federation upstreams and 100 dynamic shovels, in a vhost of its own. See docs/benchmarks.md.
 *
 *   npx tsx bench/reconcile.ts [--rounds N] [--repeats N] [--get-passes N]
 *                              [--policies N] [--upstreams N] [--shovels N] [--concurrency N]
 *                              [--own-sites]
 *
 * Sites: CROSSDOCK_SITES_STATE (a `scripts/sites` state file), else `.local/dev-sites/sites.json`
 * when it answers, else (or with --own-sites) private sites started with `scripts/sites up` on a
 * free port block under .local/bench-sites, stopped afterwards. Measured in one run, side by side:
 *
 *  (1) raw sequential PUT loop: the same bodies the engine sends, one request after the other,
 *      into a fresh vhost;
 *  (2) engine cold apply into a fresh vhost: observe -> diff -> applyPlan (`--concurrency`,
 *      default 8 like the service's RECONCILE_CONCURRENCY), with
 *      no hooks (the service also writes a ledger row and two audit events per op: not measured);
 *      (1) and (2) run `--rounds` times (default 3), alternating which goes first;
 *  (3) engine no-op pass on the applied vhost (observe + diff + applyPlan of the empty plan),
 *      `--repeats` times (default 10) after one warm-up pass: it must send no write at all;
 *  (4) what a one-request-per-object reconciler (topology-operator style) needs per pass:
 *      1,200 requests; its no-op pass (GET each object sequentially, compare) is timed too.
 *
 * Targets (exit 1 when missed): (3) <= 10 requests and < 300 ms (median), no write;
 * (2) <= 1.3x (1) (median of the per-round ratios). Vhosts are deleted at the end, also on
 * Ctrl-C. Nothing printed carries a credential.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { ManagementClient } from '../src/broker/management-client';
import { redactString } from '../src/common/logging/redact';
import type { HttpMethod, RequestOptions } from '../src/broker/management.types';
import { applyPlan, type ApplyResult } from '../src/reconciliation/apply';
import {
  describeKey,
  objectPath,
  writeRequest,
  type BrokerClient,
} from '../src/broker-topology/broker-paths';
import {
  objectKinds,
  type DesiredObject,
  type DesiredState,
  type Plan,
} from '../src/reconciliation/broker-state';
import { canonicalText, writeValue } from '../src/reconciliation/canonical';
import { diffStates, redactPlan, type OwnershipEntry } from '../src/reconciliation/diff';
import { observeBrokerState } from '../src/reconciliation/observe';
import { site, TestManagement, type LocalSite, type SitesState } from '../test/helpers/sites';
import { acquireSites, type AcquiredSites } from './lib/local-sites';

const targets = { noopRequests: 10, noopMs: 300, coldRatio: 1.3 };

interface Options {
  rounds: number;
  repeats: number;
  getPasses: number;
  policies: number;
  upstreams: number;
  shovels: number;
  /** applyPlan's concurrency (the service's RECONCILE_CONCURRENCY, default 8). */
  concurrency: number;
  /** Start private sites even when a running instance is available. */
  ownSites: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    rounds: 3,
    repeats: 10,
    getPasses: 3,
    policies: 1000,
    upstreams: 100,
    shovels: 100,
    concurrency: 8,
    ownSites: false,
  };
  const flags: Record<string, Exclude<keyof Options, 'ownSites'>> = {
    '--rounds': 'rounds',
    '--repeats': 'repeats',
    '--get-passes': 'getPasses',
    '--policies': 'policies',
    '--upstreams': 'upstreams',
    '--shovels': 'shovels',
    '--concurrency': 'concurrency',
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--own-sites') {
      opts.ownSites = true;
      continue;
    }
    const key = flags[argv[i]];
    const value = argv[i + 1] ?? '';
    if (!key || !/^\d+$/.test(value)) throw new Error(`bench: bad argument ${argv[i]} ${value}`);
    opts[key] = Number(value);
    i++;
  }
  if (opts.rounds < 1 || opts.repeats < 1 || opts.upstreams < 1 || opts.concurrency < 1) {
    throw new Error('bench: --rounds, --repeats, --upstreams and --concurrency must be >= 1');
  }
  return opts;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => console.error(`[bench] ${msg}`);

/** Counts what goes on the wire, so request figures do not rely on the engine's own tallies. */
class CountingClient implements BrokerClient {
  requests = 0;
  writes: string[] = [];
  /** Start and end of every write, by the kind its path names. */
  trace: { kind: string; start: number; end: number }[] = [];
  constructor(private readonly inner: ManagementClient) {}
  async send<T = unknown>(method: HttpMethod, path: string, body?: unknown, opts?: RequestOptions) {
    this.requests++;
    if (method === 'GET') return this.inner.send<T>(method, path, body, opts);
    this.writes.push(`${method} ${path}`);
    const start = performance.now();
    try {
      return await this.inner.send<T>(method, path, body, opts);
    } finally {
      this.trace.push({ kind: kindOfPath(path), start, end: performance.now() });
    }
  }
  reset(): void {
    this.requests = 0;
    this.writes = [];
    this.trace = [];
  }
}

function kindOfPath(path: string): string {
  const m = /^\/api\/(?:parameters\/)?([a-z-]+)\//.exec(path);
  return m?.[1] === 'policies' ? 'policy' : (m?.[1] ?? path);
}

interface KindStats {
  count: number;
  /** First request start to last request end. */
  spanMs: number;
  latencies: number[];
}

function traceByKind(trace: CountingClient['trace']): Map<string, KindStats> {
  const out = new Map<string, KindStats>();
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  for (const t of trace) {
    const k = out.get(t.kind) ?? { count: 0, spanMs: 0, latencies: [] };
    k.count++;
    k.latencies.push(t.end - t.start);
    out.set(t.kind, k);
    first.set(t.kind, Math.min(first.get(t.kind) ?? Infinity, t.start));
    last.set(t.kind, Math.max(last.get(t.kind) ?? -Infinity, t.end));
  }
  for (const [kind, k] of out) k.spanMs = (last.get(kind) ?? 0) - (first.get(kind) ?? 0);
  return out;
}

/** `policy 1,000 in 5,210 ms (median 4.1 ms, p90 9.0 ms)`, per kind. */
function describeTrace(trace: CountingClient['trace']): string {
  return [...traceByKind(trace)]
    .map(([kind, k]) => {
      const s = [...k.latencies].sort((a, b) => a - b);
      const p90 = s[Math.min(s.length - 1, Math.floor(s.length * 0.9))];
      return `${kind} ${fmtN(k.count)} in ${fmtMs(k.spanMs)} (median ${fmtMs(median(s))}, p90 ${fmtMs(p90)})`;
    })
    .join('; ');
}

function managementClient(state: SitesState, s: LocalSite): ManagementClient {
  return new ManagementClient({
    nodes: s.nodes.map((n) => ({ name: n.name, host: n.host, managementPort: n.managementPort })),
    scheme: 'http',
    username: state.admin.username,
    password: state.admin.password,
    timeoutMs: 30000,
  });
}

// ------------------------------------------------------------------ the desired state

interface World {
  state: SitesState;
  dc2: LocalSite;
  /** Vhost on dc2 the upstreams and shovels point at. */
  remoteVhost: string;
}

function pad(i: number, width: number): string {
  return String(i).padStart(width, '0');
}

/** amqp URI of dc2 as another site reaches it (heartbeat and timeout as trap 3.7 asks). */
function dc2Uri(w: World, via: 'link' | 'node'): string {
  const { host, port } =
    via === 'link' ? w.dc2.link : { host: w.dc2.nodes[1].host, port: w.dc2.nodes[1].amqpPort };
  const auth = `${encodeURIComponent(w.state.admin.username)}:${encodeURIComponent(w.state.admin.password)}`;
  return `amqp://${auth}@${host}:${port}/${encodeURIComponent(w.remoteVhost)}?heartbeat=10&connection_timeout=5000`;
}

/**
 * What the compiler would produce for a busy cluster: upstreams with URI pools, policies of five
 * realistic families (exchange federation, queue federation, overflow with dead-lettering,
 * mirroring merged with federation, limits), each with a distinct anchored pattern, and shovels
 * moving an overflow queue of dc1 to a queue of dc2.
 */
function buildDesired(w: World, vhost: string, opts: Options): DesiredState {
  const objects: DesiredObject[] = [];
  const upstream = (i: number) => `crossdock.up.dc2.${pad(i % opts.upstreams, 3)}`;
  for (let i = 0; i < opts.upstreams; i++) {
    objects.push({
      kind: 'federation-upstream',
      vhost,
      name: upstream(i),
      owner: `link:bench-${i}`,
      value: {
        uri: [dc2Uri(w, 'link'), dc2Uri(w, 'node')],
        'prefetch-count': 1000,
        'max-hops': 1,
        // A float on some: the broker echoes numbers in its own notation (canonical forms).
        'reconnect-delay': i % 2 ? 2.5 : 5,
        'ack-mode': 'on-confirm',
        expires: 3600000,
        ...(i % 3 === 1 ? { 'trust-user-id': false, 'message-ttl': 600000 } : {}),
        'resource-cleanup-mode': 'never',
      },
    });
  }
  for (let i = 0; i < opts.policies; i++) {
    const n = pad(i, 4);
    const up = upstream(i);
    const families: { pattern: string; definition: Record<string, unknown>; to: string }[] = [
      {
        pattern: `^bench\\.events\\.${n}$`,
        definition: { 'federation-upstream': up },
        to: 'exchanges',
      },
      { pattern: `^bench\\.work\\.${n}$`, definition: { 'federation-upstream': up }, to: 'queues' },
      {
        pattern: `^bench\\.orders\\.${n}(\\..*)?$`,
        definition: {
          'max-length': 10000 + i,
          overflow: 'drop-head',
          'dead-letter-exchange': 'bench.overflow',
          'dead-letter-routing-key': `bench.overflow.${n}`,
        },
        to: 'queues',
      },
      {
        pattern: `^bench\\.ha\\.${n}$`,
        definition: {
          'ha-mode': 'exactly',
          'ha-params': 2,
          'ha-sync-mode': 'automatic',
          'federation-upstream': up,
        },
        to: 'queues',
      },
      {
        pattern: `^bench\\.limits\\.${n}$`,
        definition: {
          'message-ttl': 3600000,
          expires: 86400000,
          'max-length-bytes': 104857600,
          'queue-mode': 'lazy',
        },
        to: 'queues',
      },
    ];
    const f = families[i % families.length];
    objects.push({
      kind: 'policy',
      vhost,
      name: `crossdock.pol.${n}`,
      owner: `policy:bench-${i}`,
      value: { pattern: f.pattern, definition: f.definition, priority: i % 10, 'apply-to': f.to },
    });
  }
  for (let i = 0; i < opts.shovels; i++) {
    const n = pad(i, 3);
    objects.push({
      kind: 'shovel',
      vhost,
      name: `crossdock.sh.${n}`,
      owner: `shovel:bench-${i}`,
      value: {
        'src-protocol': 'amqp091',
        'src-uri': `amqp:///${encodeURIComponent(vhost)}`,
        'src-queue': `bench.overflow.${n}`,
        'src-prefetch-count': 1000,
        'src-delete-after': 'never',
        'dest-protocol': 'amqp091',
        'dest-uri': dc2Uri(w, 'link'),
        'dest-queue': `bench.overflow.remote.${n}`,
        'dest-add-forward-headers': true,
        ...(i % 3 === 1
          ? { 'dest-add-timestamp-header': true, 'dest-publish-properties': { delivery_mode: 2 } }
          : {}),
        'ack-mode': 'on-confirm',
        'reconnect-delay': 5,
      },
    });
  }
  return { clusterId: 'bench-dc1', vhosts: [vhost], objects, warnings: [] };
}

/** Same order the applier uses: by dependency stage, then name. */
function writeOrder(desired: DesiredState): DesiredObject[] {
  return [...desired.objects].sort(
    (a, b) =>
      objectKinds.indexOf(a.kind) - objectKinds.indexOf(b.kind) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

// ------------------------------------------------------------------ measurements

interface RawResult {
  ms: number;
  requests: number;
  trace: CountingClient['trace'];
}

/** (1) One PUT per object, strictly one after the other, same bodies as the engine's. */
async function rawLoop(c: CountingClient, desired: DesiredState): Promise<RawResult> {
  const objects = writeOrder(desired);
  c.reset();
  const t0 = performance.now();
  for (const o of objects) {
    const req = writeRequest(o, writeValue(o.kind, o.value));
    await c.send(req.method, req.path, req.body);
  }
  return { ms: performance.now() - t0, requests: c.requests, trace: c.trace };
}

interface PassResult {
  ms: number;
  observeMs: number;
  diffMs: number;
  applyMs: number;
  requests: number;
  writes: string[];
  observedRequests: number;
  observedObjects: number;
  plan: Plan;
  apply: ApplyResult;
  trace: CountingClient['trace'];
}

/** observe -> diff -> applyPlan, no hooks. */
async function enginePass(
  c: CountingClient,
  desired: DesiredState,
  ledger: readonly OwnershipEntry[],
  concurrency: number,
): Promise<PassResult> {
  c.reset();
  const t0 = performance.now();
  const observed = await observeBrokerState(c, desired.vhosts);
  const t1 = performance.now();
  const plan = diffStates(desired, observed, ledger);
  const t2 = performance.now();
  const apply = await applyPlan(c, plan, {}, { concurrency });
  const t3 = performance.now();
  return {
    ms: t3 - t0,
    observeMs: t1 - t0,
    diffMs: t2 - t1,
    applyMs: t3 - t2,
    requests: c.requests,
    writes: [...c.writes],
    observedRequests: observed.requests,
    observedObjects: observed.objects.length,
    plan,
    apply,
    trace: c.trace,
  };
}

/** Value of a single-object GET in the shape the differ compares. */
function singleObjectValue(kind: DesiredObject['kind'], body: unknown): unknown {
  const b = (body ?? {}) as Record<string, unknown>;
  if (kind === 'policy') {
    return {
      pattern: b.pattern,
      definition: b.definition,
      priority: b.priority,
      'apply-to': b['apply-to'],
    };
  }
  return b.value;
}

/** (4) A no-op pass of a one-request-per-object reconciler: GET each object, compare. */
async function perObjectGetPass(
  c: CountingClient,
  desired: DesiredState,
): Promise<{ ms: number; requests: number; mismatches: number }> {
  c.reset();
  let mismatches = 0;
  const t0 = performance.now();
  for (const o of writeOrder(desired)) {
    const res = await c.send('GET', objectPath(o));
    const observed = singleObjectValue(o.kind, res.body);
    if (canonicalText(o.kind, observed) !== canonicalText(o.kind, o.value)) mismatches++;
  }
  return { ms: performance.now() - t0, requests: c.requests, mismatches };
}

// ------------------------------------------------------------------ formatting

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtMs = (ms: number) =>
  ms >= 100 ? `${Math.round(ms).toLocaleString('en-US')} ms` : `${ms.toFixed(1)} ms`;
const fmtN = (n: number) => n.toLocaleString('en-US');

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

/** A no-op pass planned writes: say which objects and which fields, redacted. */
function describeOps(plan: Plan): string[] {
  return redactPlan(plan).ops.map((op) => {
    const paths = op.op === 'update' ? ` [${op.changes.map((c) => c.path).join(', ')}]` : '';
    return `${op.op} ${describeKey(op.key)}${paths}`;
  });
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const loadBefore = loadavg();
  let sites: AcquiredSites | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  let cleaning: Promise<void> | undefined;
  let interrupted = false;
  const cleanup = () =>
    (cleaning ??= (async () => {
      while (cleanups.length > 0) {
        for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
      }
      sites?.release();
      if (interrupted) log('cleaned up');
    })());
  // `on`, not `once`: npx relays the terminal's SIGINT, so a second one arrives at once and
  // must not kill the process halfway through the cleanup.
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: deleting ${cleanups.length} vhost(s)`);
    void cleanup().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    sites = await acquireSites(log, opts.ownSites);
    const { state } = sites;
    const dc1 = site(state, 'dc1');
    const dc2 = site(state, 'dc2');
    const mgmt1 = TestManagement.forSite(state, 'dc1');
    const mgmt2 = TestManagement.forSite(state, 'dc2');
    const client = new CountingClient(managementClient(state, dc1));
    const overview = await managementClient(state, dc1).overview();
    const version = String(overview.body.rabbitmq_version ?? '?');
    const erlang = String(overview.body.erlang_version ?? '?');

    const vhostOn = async (m: TestManagement, prefix: string) => {
      if (interrupted) throw new Error('interrupted');
      const v = `${prefix}-${randomBytes(4).toString('hex')}`;
      let deleted = false;
      const del = async () => {
        if (deleted) return;
        deleted = true;
        // Not TestManagement.deleteVhost: it hides failures, and a vhost left behind should show.
        // Deleting a vhost while writes into it are in flight can answer 500: try again.
        for (let attempt = 1; ; attempt++) {
          try {
            await m.request('DELETE', `/api/vhosts/${encodeURIComponent(v)}`);
            return;
          } catch (err) {
            if (String(err).includes('-> 404')) return;
            if (attempt >= 3) {
              log(`could not delete vhost ${v}: ${redactString(String(err))}`);
              return;
            }
            await sleep(1000);
          }
        }
      };
      cleanups.push(del); // before creating it: an interrupt in between must not leak it
      const path = `/api/vhosts/${encodeURIComponent(v)}`;
      await m.request('PUT', path, {});
      const user = encodeURIComponent(state.admin.username);
      await m.request('PUT', `/api/permissions/${encodeURIComponent(v)}/${user}`, {
        configure: '.*',
        write: '.*',
        read: '.*',
      });
      return { name: v, delete: del };
    };

    const remote = await vhostOn(mgmt2, 'bench-remote');
    const world: World = { state, dc2, remoteVhost: remote.name };
    const total = `${fmtN(opts.policies)} policies, ${fmtN(opts.upstreams)} upstreams, ${fmtN(opts.shovels)} shovels`;
    const objectCount = opts.policies + opts.upstreams + opts.shovels;
    log(`RabbitMQ ${version} (Erlang ${erlang}), dc1 ${dc1.clusterName}; ${total}`);
    log(`sites: ${sites.statePath}${sites.started ? ' (started by this run)' : ''}`);

    // (1) and (2), side by side, alternating which goes first; the last round runs the raw loop
    // first so that the engine's vhost can stay for (3) and (4). Each measurement starts from the
    // same cluster: the other copy's vhost (and its running shovels) is gone and settled.
    const settle = async (vhost: string) => {
      const deadline = Date.now() + 30000;
      while (Date.now() < deadline) {
        const listed = await mgmt1.request<{ vhost?: string }[]>('GET', '/api/shovels');
        if (!listed.some((x) => x.vhost === vhost)) break;
        await sleep(250);
      }
      await sleep(2000);
    };
    const rounds: { raw: RawResult; cold: PassResult; ratio: number }[] = [];
    let applied: { vhost: string; desired: DesiredState } | undefined;
    for (let r = 0; r < opts.rounds; r++) {
      const rawFirst = (opts.rounds - 1 - r) % 2 === 0;
      let raw: RawResult | undefined;
      let cold: PassResult | undefined;
      for (const which of rawFirst ? ['raw', 'engine'] : ['engine', 'raw']) {
        const keep = which === 'engine' && r === opts.rounds - 1;
        if (which === 'raw') {
          const vhost = await vhostOn(mgmt1, 'bench-raw');
          raw = await rawLoop(client, buildDesired(world, vhost.name, opts));
          log(`round ${r + 1}: raw PUT loop ${fmtMs(raw.ms)}, ${raw.requests} requests`);
          await vhost.delete();
          await settle(vhost.name);
        } else {
          const vhost = await vhostOn(mgmt1, 'bench-engine');
          const desired = buildDesired(world, vhost.name, opts);
          cold = await enginePass(client, desired, [], opts.concurrency);
          const { counts } = cold.apply;
          log(
            `round ${r + 1}: engine cold apply ${fmtMs(cold.ms)} (observe ${fmtMs(cold.observeMs)}, ` +
              `diff ${fmtMs(cold.diffMs)}, apply ${fmtMs(cold.applyMs)}), ${cold.requests} requests, ` +
              `created ${counts.created}, failed ${counts.failed}, skipped ${counts.skipped}`,
          );
          if (counts.created !== objectCount || cold.plan.ops.length !== objectCount) {
            const firstError = cold.apply.outcomes.find((o) => !o.ok)?.error ?? 'none';
            throw new Error(
              `engine cold apply did not create all ${objectCount} objects (first error: ${firstError})`,
            );
          }
          if (cold.requests !== cold.observedRequests + cold.apply.requests) {
            throw new Error(
              `request count mismatch: wire ${cold.requests}, engine ${cold.observedRequests} + ${cold.apply.requests}`,
            );
          }
          if (keep) {
            applied = { vhost: vhost.name, desired };
          } else {
            await vhost.delete();
            await settle(vhost.name);
          }
        }
      }
      if (!raw || !cold) throw new Error('unreachable');
      rounds.push({ raw, cold, ratio: cold.ms / raw.ms });
    }
    if (!applied) throw new Error('no round ran');
    const target = applied;

    // (3) no-op passes on the applied vhost; every object is in the ledger.
    await sleep(2000);
    const ledger: OwnershipEntry[] = target.desired.objects.map((o) => ({
      kind: o.kind,
      vhost: o.vhost,
      name: o.name,
      owner: o.owner,
    }));
    const warmup = await enginePass(client, target.desired, ledger, opts.concurrency);
    const noop: PassResult[] = [];
    for (let i = 0; i < opts.repeats; i++) {
      noop.push(await enginePass(client, target.desired, ledger, opts.concurrency));
    }
    const all = [warmup, ...noop];
    const writingPasses = all.filter((p) => p.plan.ops.length > 0 || p.writes.length > 0);
    const recurring = new Map<string, number>();
    for (const p of all)
      for (const d of describeOps(p.plan)) recurring.set(d, (recurring.get(d) ?? 0) + 1);
    const findings = new Set(
      all.flatMap((p) => p.plan.findings.map((f) => `${f.kind}: ${f.detail}`)),
    );

    // (4) one request per object.
    const getPasses = [];
    for (let i = 0; i < opts.getPasses; i++) {
      getPasses.push(await perObjectGetPass(client, target.desired));
    }

    // Shovel status after the run (information: shovels to unreachable queues may churn).
    const shovelStates = new Map<string, number>();
    const shovels = await managementClient(state, dc1).get<{ name: string; state?: string }[]>(
      `/api/shovels/${encodeURIComponent(target.vhost)}`,
    );
    const seen = new Set<string>();
    for (const s of shovels) {
      if (seen.has(s.name)) continue; // 3.10 may list a shovel twice (trap 3.6)
      seen.add(s.name);
      const st = s.state ?? 'unknown';
      shovelStates.set(st, (shovelStates.get(st) ?? 0) + 1);
    }

    // The service's own per-op cost that (2) leaves out: its apply() maps every op through
    // redactPlan(plan), which redacts the whole plan each time. Measured on the cold plan.
    const coldPlan = rounds[rounds.length - 1].cold.plan;
    const redactMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r0 = performance.now();
      redactPlan(coldPlan);
      redactMs.push(performance.now() - r0);
    }
    const oneRedact = median(redactMs);
    // The exact expression of ReconcilerService.apply (src/reconciliation/reconciler.service.ts).
    const q0 = performance.now();
    const perOp = new Map(coldPlan.ops.map((op, i) => [op, redactPlan(coldPlan).ops[i]]));
    const quadraticMs = performance.now() - q0;
    if (perOp.size !== coldPlan.ops.length) throw new Error('unreachable');

    const loadAfter = loadavg();

    // ---------------------------------------------------------------- report
    const rawMs = rounds.map((r) => r.raw.ms);
    const coldMs = rounds.map((r) => r.cold.ms);
    const ratio = median(rounds.map((r) => r.ratio));
    const noopMs = noop.map((p) => p.ms);
    const noopReq = Math.max(...noop.map((p) => p.requests));
    const noopMed = median(noopMs);
    const noopMax = Math.max(...noopMs);
    const getMs = getPasses.map((p) => p.ms);
    const coldReq = rounds[rounds.length - 1].cold.requests;
    const okNoopReq = noopReq <= targets.noopRequests && writingPasses.length === 0;
    const okNoopMs = noopMed < targets.noopMs;
    const okCold = ratio <= targets.coldRatio;
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');

    const out: string[] = [];
    out.push('');
    out.push(
      `Reconciler benchmark: dc1 (${dc1.nodes.length} nodes), one vhost, ${total} ` +
        `(${fmtN(objectCount)} objects); RabbitMQ ${version}, Erlang ${erlang}; ` +
        `node ${process.version}, ${cpus().length} CPUs; ${opts.rounds} round(s)`,
    );
    out.push(
      `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    out.push('');
    out.push(
      table([
        ['measurement', 'wall time', 'HTTP requests', 'target', 'result'],
        [
          `(1) raw sequential PUT loop, fresh vhost`,
          `median ${fmtMs(median(rawMs))} (${rawMs.map(fmtMs).join(', ')})`,
          fmtN(rounds[0].raw.requests),
          '',
          '',
        ],
        [
          `(2) engine cold apply (observe+diff+apply, concurrency ${opts.concurrency})`,
          `median ${fmtMs(median(coldMs))} (${coldMs.map(fmtMs).join(', ')})`,
          `${fmtN(coldReq)} (${rounds[rounds.length - 1].cold.observedRequests} + ${fmtN(coldReq - rounds[rounds.length - 1].cold.observedRequests)})`,
          `<= ${targets.coldRatio}x (1)`,
          `${ratio.toFixed(2)}x (${rounds.map((r) => r.ratio.toFixed(2)).join(', ')}) ${verdict(okCold)}`,
        ],
        [
          `(3) engine no-op pass (observe+diff+apply), ${opts.repeats}x`,
          `median ${fmtMs(noopMed)}, max ${fmtMs(noopMax)}`,
          `${noopReq} (writes: ${all.reduce((n, p) => n + p.writes.length, 0)})`,
          `<= ${targets.noopRequests} req, < ${targets.noopMs} ms`,
          `${verdict(okNoopReq)} / ${verdict(okNoopMs)}`,
        ],
        [
          '(4) one-request-per-object reconciler, per pass',
          `no-op (GET each, sequential): median ${fmtMs(median(getMs))} (${getMs.map(fmtMs).join(', ')})`,
          fmtN(objectCount),
          'comparison',
          `${(median(getMs) / noopMed).toFixed(0)}x slower, ${(objectCount / noopReq).toFixed(0)}x the requests of (3)`,
        ],
      ]),
    );
    out.push('');
    const last = rounds[rounds.length - 1].cold;
    out.push(
      `(2) breakdown, last round: observe ${fmtMs(last.observeMs)}, diff ${fmtMs(last.diffMs)}, ` +
        `apply ${fmtMs(last.applyMs)}`,
    );
    for (const [i, r] of rounds.entries()) {
      out.push(`round ${i + 1} writes by kind, (1): ${describeTrace(r.raw.trace)}`);
      out.push(`round ${i + 1} writes by kind, (2): ${describeTrace(r.cold.trace)}`);
    }
    const noopBest = noop.reduce((a, b) => (a.ms <= b.ms ? a : b));
    out.push(
      `(3) breakdown, medians: observe ${fmtMs(median(noop.map((p) => p.observeMs)))}, ` +
        `diff ${fmtMs(median(noop.map((p) => p.diffMs)))}, apply ${fmtMs(median(noop.map((p) => p.applyMs)))}; ` +
        `warm-up pass ${fmtMs(warmup.ms)}; fastest ${fmtMs(noopBest.ms)}; ` +
        `${noop[0].observedObjects} objects observed in the vhost`,
    );
    out.push(
      `(3) plan: ${writingPasses.length === 0 ? 'empty in every pass (no write sent)' : `${writingPasses.length} of ${all.length} passes planned or sent writes`}; ` +
        `findings: ${findings.size === 0 ? 'none' : [...findings].join(' | ')}`,
    );
    if (recurring.size > 0) {
      out.push('(3) ops planned by no-op passes (object, changed fields, passes):');
      for (const [d, n] of recurring) out.push(`    ${d}  x${n}/${all.length}`);
    }
    out.push(
      `(4) mismatches seen by the per-object pass: ${getPasses.map((p) => p.mismatches).join(', ')}`,
    );
    out.push(
      `shovels after the run: ${[...shovelStates].map(([s, n]) => `${n} ${s}`).join(', ') || 'none listed'}`,
    );
    out.push(
      `not in (2): the service writes a ledger row and two audit events per op (Postgres), and ` +
        `ReconcilerService.apply() redacts the whole plan once per op before the first write: ` +
        `${fmtMs(quadraticMs)} of CPU for this ${fmtN(coldPlan.ops.length)}-op plan ` +
        `(one redactPlan call: ${fmtMs(oneRedact)})`,
    );
    console.log(out.join('\n'));
    return okNoopReq && okNoopMs && okCold ? 0 : 1;
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
