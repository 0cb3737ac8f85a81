/**
 * Overflow benchmark (#7): the built service with one overflow rule from dc1 to dc2 (across the
 * WAN proxy), measured side by side in one run. See docs/benchmarks.md.
 *
 *   npx nest build && npx tsx bench/overflow.ts [--allow-stale] [--rounds N] [--messages N] [--own-sites]
 *
 *  (1) activation: a publisher at 2,000 msg/s against a local consumer at 500 msg/s; time from the
 *      moment the queue's depth crosses the high watermark (polled every 20 ms with a passive
 *      declare) to the first message arriving at the remote consumer; `--rounds` times (default 3).
 *      Target: <= 1 evaluation interval (1,000 ms).
 *  (2) throughput: `--messages` (default 20,000) persistent messages preloaded into the queue,
 *      drained once by a local consumer (direct path) and once by the spill shovel into the remote
 *      queue and its consumer (overflow path, no local consumer); messages/s of each and the ratio.
 *
 * Sites: CROSSDOCK_SITES_STATE, else `.local/dev-sites/sites.json` when it answers, else private
 * sites (or with --own-sites). Exits 1 when the activation target is missed.
 */
import { connect, type ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runMigrations } from '../src/database/migrate';
import { createDatabase, dropDatabase } from '../test/helpers/postgres';
import { site, TestManagement, type LocalSite, type SitesState } from '../test/helpers/sites';
import { acquireSites } from './lib/local-sites';
import { checkBuild, root, sleep, startService, type Service } from './lib/service';

const high = 2000;
const low = 200;
const intervalMs = 1000;
const enc = encodeURIComponent;

interface Options {
  allowStale: boolean;
  rounds: number;
  messages: number;
  ownSites: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { allowStale: false, rounds: 3, messages: 20000, ownSites: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--allow-stale') o.allowStale = true;
    else if (a === '--own-sites') o.ownSites = true;
    else if (a === '--rounds' && /^\d+$/.test(argv[i + 1] ?? '')) o.rounds = Number(argv[++i]);
    else if (a === '--messages' && /^\d+$/.test(argv[i + 1] ?? '')) o.messages = Number(argv[++i]);
    else throw new Error(`bench: unknown argument ${a}`);
  }
  return o;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function api<T>(
  svc: Service,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${svc.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`bench: ${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function register(
  svc: Service,
  token: string,
  state: SitesState,
  local: LocalSite,
  vhost: string,
) {
  const s = await api<{ id: string }>(svc, token, 'POST', '/sites', {
    name: `bench-${local.name}-${randomBytes(3).toString('hex')}`,
    region: local.name,
  });
  const c = await api<{ id: string }>(svc, token, 'POST', '/clusters', {
    siteId: s.id,
    name: 'main',
    brokerClusterName: local.clusterName,
    linkEndpoints: [local.link],
    vhosts: [vhost],
    credentials: state.admin,
    nodes: local.nodes.map((n) => ({
      name: n.name,
      host: n.host,
      amqpPort: n.amqpPort,
      managementPort: n.managementPort,
      type: n.type,
    })),
  });
  return c.id;
}

async function amqp(state: SitesState, name: string, vhost: string): Promise<ChannelModel> {
  const n = site(state, name).nodes[0];
  const c = await connect({
    hostname: n.host,
    port: n.amqpPort,
    username: state.admin.username,
    password: state.admin.password,
    vhost,
  });
  c.on('error', () => undefined);
  return c;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  checkBuild(opts.allowStale);
  const log = (m: string) => console.log(`[bench] ${m}`);
  const sites = await acquireSites(log, opts.ownSites);
  const state = sites.state;
  const vhost = `bench-ovf-${randomBytes(3).toString('hex')}`;
  const m1 = TestManagement.forSite(state, 'dc1');
  const m2 = TestManagement.forSite(state, 'dc2');
  const db = await createDatabase('crossdock_bench_overflow');
  const logDir = join(root, '.local', 'bench');
  mkdirSync(logDir, { recursive: true });
  let svc: Service | undefined;
  const conns: ChannelModel[] = [];
  try {
    await runMigrations(db.url);
    for (const m of [m1, m2]) {
      await m.request('PUT', `/api/vhosts/${enc(vhost)}`, {});
      await m.request('PUT', `/api/permissions/${enc(vhost)}/${enc(state.admin.username)}`, {
        configure: '.*',
        write: '.*',
        read: '.*',
      });
    }
    await m1.request('PUT', `/api/queues/${enc(vhost)}/busy`, { durable: true });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/spill`, { durable: true });
    const token = `bench-${randomBytes(24).toString('hex')}`;
    svc = await startService(
      {
        DATABASE_URL: db.url,
        CROSSDOCK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        CROSSDOCK_AUDIT_HMAC_KEY: randomBytes(32).toString('hex'),
        CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: token,
        RECONCILE_ENABLED: 'false',
        PROBES_ENABLED: 'true',
        OVERFLOW_ENABLED: 'true',
        OVERFLOW_INTERVAL_MS: String(intervalMs),
      },
      logDir,
    );
    const s = svc;
    const dc1 = await register(s, token, state, site(state, 'dc1'), vhost);
    const dc2 = await register(s, token, state, site(state, 'dc2'), vhost);
    const rule = await api<{ id: string }>(s, token, 'POST', '/overflow-rules', {
      name: 'bench',
      source: { clusterId: dc1, vhost, queue: 'busy' },
      remote: { clusterId: dc2, vhost, queue: 'spill' },
      highWatermark: high,
      lowWatermark: low,
      minHoldMs: 1000,
      prefetch: 200,
    });
    for (const id of [dc2, dc1]) await api(s, token, 'POST', '/reconcile', { clusterId: id });
    const view = () =>
      api<{ status: { state: string; reason: string } }>(
        s,
        token,
        'GET',
        `/overflow-rules/${rule.id}`,
      );
    const waitState = async (
      want: (v: { state: string; reason: string }) => boolean,
      what: string,
    ) => {
      const deadline = Date.now() + 120000;
      for (;;) {
        const v = (await view()).status;
        if (want(v)) break;
        if (Date.now() > deadline)
          throw new Error(`bench: timed out waiting for ${what}: ${v.state} (${v.reason})`);
        await sleep(250);
      }
    };
    await waitState((v) => v.state === 'inactive' && v.reason.includes('below high'), 'the gate');

    const c1 = await amqp(state, 'dc1', vhost);
    const c2 = await amqp(state, 'dc2', vhost);
    conns.push(c1, c2);
    const depthCh = await c1.createChannel();
    const depth = async () => (await depthCh.checkQueue('busy')).messageCount;

    // (1) activation latency.
    const latencies: number[] = [];
    for (let round = 0; round < opts.rounds; round++) {
      let firstRemote = 0;
      const rch = await c2.createChannel();
      await rch.prefetch(500);
      await rch.consume('spill', (msg) => {
        if (!msg) return;
        if (!firstRemote) firstRemote = Date.now();
        rch.ack(msg);
      });
      const lch = await c1.createChannel();
      await lch.prefetch(20);
      const held: (() => void)[] = [];
      await lch.consume('busy', (msg) => {
        if (msg) held.push(() => lch.ack(msg));
      });
      const acker = setInterval(() => held.splice(0, 5).forEach((f) => f()), 10); // 500/s
      const pub = await c1.createConfirmChannel();
      let stop = false;
      let crossed = 0;
      const poll = (async () => {
        while (!stop && !crossed && !firstRemote) {
          if ((await depth()) >= high) crossed = Date.now();
          await sleep(20);
        }
      })();
      const started = Date.now();
      let sent = 0;
      while (!firstRemote && Date.now() - started < 60000) {
        pub.publish('', 'busy', Buffer.from('x'), { persistent: true });
        sent += 1;
        const wait = started + (sent * 1000) / 2000 - Date.now();
        if (wait > 0) await sleep(wait);
      }
      stop = true;
      await poll;
      await pub.waitForConfirms();
      // Activation is one interval early when the depth's growth would cross high before the
      // next evaluation: the first message can then leave before the depth ever reaches high.
      const ms = !firstRemote ? NaN : crossed ? Math.max(0, firstRemote - crossed) : 0;
      latencies.push(ms);
      log(
        `round ${round + 1}: high crossed -> first diverted message: ${ms} ms${crossed ? '' : ' (spilling before the depth reached high)'}; ${sent} published`,
      );
      clearInterval(acker);
      held.splice(0).forEach((f) => f());
      await lch.close();
      // Let the spill drain the rest and the rule go back to inactive.
      await waitState((v) => v.state === 'inactive', 'inactive after the round');
      await rch.close();
      await m2.request('DELETE', `/api/queues/${enc(vhost)}/spill/contents`);
      await m1.request('DELETE', `/api/queues/${enc(vhost)}/busy/contents`);
    }

    // (2) throughput: direct vs overflow.
    const preload = async () => {
      const pub = await c1.createConfirmChannel();
      for (let i = 0; i < opts.messages; i++) {
        pub.publish('', 'busy', Buffer.from(`m${i}`), { persistent: true });
        if (i % 1000 === 999) await pub.waitForConfirms();
      }
      await pub.waitForConfirms();
      await pub.close();
    };
    const drain = async (conn: ChannelModel, queue: string): Promise<number> => {
      const ch = await conn.createChannel();
      await ch.prefetch(500);
      let n = 0;
      let first = 0;
      let last = 0;
      await new Promise<void>((resolve) => {
        void ch.consume(queue, (msg) => {
          if (!msg) return;
          if (!first) first = Date.now();
          n += 1;
          last = Date.now();
          ch.ack(msg);
          if (n === opts.messages) resolve();
        });
      });
      await ch.close();
      return (opts.messages - 1) / ((last - first) / 1000);
    };
    await api(s, token, 'PATCH', `/overflow-rules/${rule.id}`, { enabled: false });
    await preload();
    const direct = await drain(c1, 'busy');
    log(`direct path: ${direct.toFixed(0)} msg/s`);
    await preload();
    const remoteDone = drain(c2, 'spill');
    await api(s, token, 'PATCH', `/overflow-rules/${rule.id}`, { enabled: true });
    const overflow = await remoteDone;
    log(`overflow path: ${overflow.toFixed(0)} msg/s`);

    const med = median(latencies);
    console.log('');
    console.log(
      `activation, high crossed -> first diverted message: median ${med} ms (${latencies.join(', ')} ms), target <= ${intervalMs} ms`,
    );
    console.log(
      `throughput, ${opts.messages} persistent messages: direct ${direct.toFixed(0)} msg/s, overflow path ${overflow.toFixed(0)} msg/s, ratio ${(overflow / direct).toFixed(2)}`,
    );
    return Number.isFinite(med) && med <= intervalMs ? 0 : 1;
  } finally {
    for (const c of conns) await c.close().catch(() => undefined);
    await svc?.stop();
    for (const m of [m1, m2]) await m.deleteVhost(vhost);
    await dropDatabase(db.name).catch(() => undefined);
    sites.release();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
