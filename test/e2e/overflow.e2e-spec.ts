import { connect, type ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { controlRequest } from '../fixtures/wan-proxy';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  type SitesState,
  type TestManagement,
} from '../helpers/sites';

const enc = encodeURIComponent;
const evaluationMs = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface BurstResult {
  published: number;
  nacks: number;
  duplicates: number;
  missing: number;
  local: number;
  remote: number;
  maxDepth: number;
  publishRate: number;
  localRate: number;
  /** `ms:depth:remote` every 250 ms, for the failure message. */
  timeline: string;
}

/**
 * Overflow of a busy queue to the remote site across the WAN proxy: a publisher with confirms
 * and unique ids bursts above the local consumer's rate; every id must be consumed at one of
 * the two sites exactly once, nothing nacked, the local depth bounded, one activation per burst.
 */
describe('overflow to the remote site', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let c1: ChannelModel;
  let c2: ChannelModel;
  const vhost = `ovf-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const ctl = (method: string, path: string, json?: unknown) =>
    controlRequest(state.wanProxy.controlPort, method, path, { json });

  async function amqp(name: 'dc1' | 'dc2'): Promise<ChannelModel> {
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

  async function rule(name: string, queue: string, remoteQueue: string): Promise<string> {
    const res = await t.http
      .post('/overflow-rules')
      .set(admin())
      .send({
        name,
        source: { clusterId: dc1.clusterId, vhost, queue },
        remote: { clusterId: dc2.clusterId, vhost, queue: remoteQueue },
        highWatermark: 2000,
        lowWatermark: 200,
        minHoldMs: 2000,
        prefetch: 200,
      })
      .expect(201);
    return res.body.id as string;
  }

  /**
   * Publishes `total` persistent messages with confirms at `rate`/s (retrying anything nacked),
   * consumes locally at `localRate`/s and remotely as fast as possible, until every id is seen.
   */
  async function burst(
    queue: string,
    remoteQueue: string,
    total: number,
    rate: number,
    localRate: number,
    during?: (published: () => number) => Promise<void>,
  ): Promise<BurstResult> {
    const seen = new Map<string, number>();
    let local = 0;
    let remote = 0;
    const mark = (id: string) => seen.set(id, (seen.get(id) ?? 0) + 1);
    const lch = await c1.createChannel();
    await lch.prefetch(50);
    const pending: { ack: () => void }[] = [];
    await lch.consume(queue, (msg) => {
      if (!msg) return;
      mark(String(msg.properties.messageId));
      local += 1;
      pending.push({ ack: () => lch.ack(msg) });
    });
    // The local consumer is slower than the inflow: it acks at most localRate per second.
    const perTick = Math.max(1, Math.round(localRate / 100));
    const acker = setInterval(() => {
      for (const p of pending.splice(0, perTick)) p.ack();
    }, 10);
    const rch = await c2.createChannel();
    await rch.prefetch(500);
    await rch.consume(remoteQueue, (msg) => {
      if (!msg) return;
      mark(String(msg.properties.messageId));
      remote += 1;
      rch.ack(msg);
    });
    let maxDepth = 0;
    const dch = await c1.createChannel();
    const t0 = Date.now();
    const timeline: string[] = [];
    const depthTimer = setInterval(() => {
      void dch
        .checkQueue(queue)
        .then((q) => {
          maxDepth = Math.max(maxDepth, q.messageCount);
          timeline.push(`${Date.now() - t0}:${q.messageCount}:${remote}`);
        })
        .catch(() => undefined);
    }, 250);

    const pub = await c1.createConfirmChannel();
    let nacks = 0;
    let confirmed = 0;
    const prefix = randomBytes(4).toString('hex');
    const started = Date.now();
    const publishOne = (id: string): Promise<void> =>
      new Promise((resolve) => {
        pub.publish('', queue, Buffer.from(id), { persistent: true, messageId: id }, (err) => {
          if (err) {
            nacks += 1;
            resolve(publishOne(id)); // retry: a nacked message was not taken
          } else {
            confirmed += 1;
            resolve();
          }
        });
      });
    const inflight: Promise<void>[] = [];
    const duringDone = during?.(() => confirmed);
    for (let i = 0; i < total; i++) {
      inflight.push(publishOne(`${prefix}-${i}`));
      const due = started + ((i + 1) * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (inflight.length >= 2000) await Promise.all(inflight.splice(0, 1000));
    }
    await Promise.all(inflight);
    const publishRate = total / ((Date.now() - started) / 1000);
    await duringDone;
    const consumedStart = Date.now();
    await eventually(() => seen.size === total, {
      timeoutMs: 180000,
      intervalMs: 500,
      description: `all ${total} ids consumed`,
    });
    clearInterval(acker);
    clearInterval(depthTimer);

    for (const p of pending.splice(0)) p.ack();
    await Promise.all(
      [lch.close(), rch.close(), dch.close(), pub.close()].map((p) => p.catch(() => undefined)),
    );
    void consumedStart;
    let duplicates = 0;
    for (const n of seen.values()) duplicates += n - 1;
    return {
      published: confirmed,
      nacks,
      duplicates,
      missing: total - seen.size,
      local,
      remote,
      maxDepth,
      publishRate,
      localRate,
      timeline: timeline.join(' '),
    };
  }

  async function view(id: string) {
    return (await t.http.get(`/overflow-rules/${id}`).set(admin()).expect(200)).body as {
      status: { state: string; reason: string; activations: number; diverted: number };
    };
  }

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_overflow');
    t = await createTestApp({
      DATABASE_URL: db.url,
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: '500',
      PROBE_BROKER_POLL_MS: '1000',
      OVERFLOW_ENABLED: 'true',
      OVERFLOW_INTERVAL_MS: String(evaluationMs),
    });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]);
    await m1.request('PUT', `/api/queues/${enc(vhost)}/orders`, { durable: true });
    await m1.request('PUT', `/api/queues/${enc(vhost)}/orders-q`, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum' },
    });
    for (const q of ['orders.spill', 'orders-q.spill'])
      await m2.request('PUT', `/api/queues/${enc(vhost)}/${q}`, { durable: true });
    c1 = await amqp('dc1');
    c2 = await amqp('dc2');
  }, 120000);

  const cleanup: string[] = [];
  afterEach(async () => {
    for (const id of cleanup.splice(0)) await t.http.delete(`/overflow-rules/${id}`).set(admin());
    // The engine stops a deleted rule's spill shovel: wait for it before the next test.
    await eventually(
      async () =>
        (await m1.request<{ name: string }[]>('GET', `/api/parameters/shovel/${enc(vhost)}`))
          .length === 0,
      { timeoutMs: 30000, description: 'spill shovels gone' },
    );
  }, 60000);

  afterAll(async () => {
    await ctl('POST', '/proxies/dc2/restore').catch(() => undefined);
    await c1?.close().catch(() => undefined);
    await c2?.close().catch(() => undefined);
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  }, 60000);

  async function ready(ruleId: string): Promise<void> {
    for (const c of [dc2, dc1]) {
      const run = (
        await t.http.post('/reconcile').set(admin()).send({ clusterId: c.clusterId }).expect(200)
      ).body.runs[0];
      if (run.status !== 'succeeded') throw new Error(`reconcile: ${run.status} ${run.error}`);
    }
    // The gate: the rule's probe path (a shovel path dc1 -> dc2) carries probes.
    await eventually(async () => (await view(ruleId)).status.reason.includes('below high'), {
      timeoutMs: 60000,
      intervalMs: 500,
      description: 'rule evaluated with the remote path healthy',
    });
  }

  for (const [kind, queue] of [
    ['classic', 'orders'],
    ['quorum', 'orders-q'],
  ] as const) {
    it(`a ${kind} queue bursts 50,000 messages: all consumed once, no nack, depth bounded, one activation`, async () => {
      const id = await rule(`${queue}-spill`, queue, `${queue}.spill`);
      cleanup.push(id);
      await ready(id);
      const r = await burst(queue, `${queue}.spill`, 50000, 1600, 800);
      if (process.env.OVERFLOW_TIMELINE) {
        const a = await t.http.get('/audit').query({ resourceId: id, limit: 200 }).set(admin());
        console.log(
          (a.body.items as { seq: string; occurredAt: string; action: string; after: unknown }[])
            .map((e) => `${e.occurredAt} ${e.action} ${JSON.stringify(e.after)?.slice(0, 300)}`)
            .join('\n'),
        );
      }
      expect({ nacks: r.nacks, duplicates: r.duplicates, missing: r.missing }).toEqual({
        nacks: 0,
        duplicates: 0,
        missing: 0,
      });
      expect(r.remote).toBeGreaterThan(0);
      // High watermark plus one evaluation interval of excess inflow.
      const bound = 2000 + ((r.publishRate - r.localRate) * evaluationMs) / 1000;
      if (r.maxDepth > bound) console.log(`${kind} depth over the bound: ${r.timeline}`);
      expect(r.maxDepth).toBeLessThanOrEqual(bound);
      const v = await eventually(
        async () => {
          const x = await view(id);
          return x.status.state === 'inactive' ? x : false;
        },
        { timeoutMs: 60000, intervalMs: 500, description: 'rule back to inactive' },
      );
      expect(v.status.activations).toBe(1);
      const audit = await t.http
        .get('/audit')
        .query({ resourceId: id, limit: 200 })
        .set(admin())
        .expect(200);
      const states = (audit.body.items as { action: string; after: { state: string } }[])
        .filter((e) => e.action === 'overflow.state.changed')
        .map((e) => e.after.state);
      expect(states.filter((s) => s === 'active')).toHaveLength(1);
      const { timeline: _t, ...figures } = r;
      console.log(`${kind}: ${JSON.stringify({ ...figures, bound: Math.round(bound), states })}`);
    }, 300000);
  }

  it('a WAN cut mid-burst suspends overflow and loses nothing; what was diverted arrives after the restore', async () => {
    const id = await rule('orders-cut', 'orders', 'orders.spill');
    cleanup.push(id);
    await ready(id);
    const r = await burst('orders', 'orders.spill', 20000, 2000, 800, async (confirmed) => {
      await eventually(() => confirmed() > 8000, { timeoutMs: 60000, intervalMs: 100 });
      expect((await ctl('POST', '/proxies/dc2/cut', { mode: 'reset' })).status).toBe(200);
      await eventually(async () => (await view(id)).status.state === 'suspended', {
        timeoutMs: 15000,
        intervalMs: 200,
        description: 'overflow suspended',
      });
      await sleep(3000);
      expect((await ctl('POST', '/proxies/dc2/restore')).status).toBe(200);
    });
    expect(r.nacks).toBe(0);
    expect(r.missing).toBe(0);
    const { timeline: _t, ...figures } = r;
    console.log(`cut: ${JSON.stringify(figures)}`);
  }, 300000);
});
