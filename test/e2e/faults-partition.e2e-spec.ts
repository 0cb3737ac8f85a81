import type { ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { controlRequest } from '../fixtures/wan-proxy';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { overflowBurst } from '../helpers/overflow-burst';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import type { RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  type SitesState,
  type TestManagement,
} from '../helpers/sites';
import {
  createOrdersFederation,
  openAmqp,
  plantOrders,
  reconcileClusters,
  registerTwoSites,
} from '../helpers/two-sites';

const enc = encodeURIComponent;
const probeIntervalMs = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue #8: a site partition (both WAN proxies blackholed: packets dropped both ways, nobody
 * told) while an overflow burst spills to the remote site, probes run, federation traffic is
 * published upstream and a link change is reconciled. During the cut: the link is reported
 * down, the overflow rule suspends, the reconcile pass still succeeds (the management API is
 * not behind the WAN). After the restore: the link is healthy again, every federated message
 * arrives, every burst message is consumed at one of the two sites, nothing was nacked, and the
 * audit chain verifies.
 */
describe('site partition during reconcile, probing and overflow at once', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let c1: ChannelModel;
  let c2: ChannelModel;
  let fedId: string;
  let ruleId: string;
  const vhost = `partition-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const ctl = (method: string, path: string, json?: unknown) =>
    controlRequest(state.wanProxy.controlPort, method, path, { json });
  const health = async () =>
    (await t.http.get(`/links/federation/${fedId}/health`).set(admin()).expect(200)).body as {
      state: string;
      evaluatedAt: string;
      reasons: unknown;
    };
  const rule = async () =>
    (await t.http.get(`/overflow-rules/${ruleId}`).set(admin()).expect(200)).body as {
      status: { state: string; reason: string };
    };

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_partition');
    t = await createTestApp({
      DATABASE_URL: db.url,
      RECONCILE_ENABLED: 'true',
      RECONCILE_INTERVAL_MS: '5000',
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: String(probeIntervalMs),
      PROBE_BROKER_POLL_MS: '1000',
      PROBE_WINDOW_MS: '5000',
      OVERFLOW_ENABLED: 'true',
      OVERFLOW_INTERVAL_MS: '1000',
    });
    ({ dc1, dc2 } = await registerTwoSites(t.http, state, vhost));
    await plantOrders(m1, m2, vhost);
    await m1.request('PUT', `/api/queues/${enc(vhost)}/busy`, { durable: true });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/busy.spill`, { durable: true });
    fedId = await createOrdersFederation(t.http, { dc1, dc2 }, vhost);
    ruleId = (
      await t.http
        .post('/overflow-rules')
        .set(admin())
        .send({
          name: 'busy',
          source: { clusterId: dc1.clusterId, vhost, queue: 'busy' },
          remote: { clusterId: dc2.clusterId, vhost, queue: 'busy.spill' },
          highWatermark: 2000,
          lowWatermark: 200,
          minHoldMs: 2000,
          prefetch: 200,
        })
        .expect(201)
    ).body.id;
    await reconcileClusters(t.http, [dc2, dc1]);
    c1 = await openAmqp(state, 'dc1', vhost);
    c2 = await openAmqp(state, 'dc2', vhost);
  }, 120000);

  afterAll(async () => {
    for (const p of ['dc1', 'dc2'])
      await ctl('POST', `/proxies/${p}/restore`).catch(() => undefined);
    await c1?.close().catch(() => undefined);
    await c2?.close().catch(() => undefined);
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  }, 60000);

  it('reports the cut, suspends overflow, keeps reconciling and loses nothing', async () => {
    await eventually(async () => (await health()).state === 'healthy', {
      timeoutMs: 60000,
      intervalMs: 500,
      description: 'federation link healthy before the cut',
    });
    await eventually(async () => (await rule()).status.reason.includes('below high'), {
      timeoutMs: 60000,
      intervalMs: 500,
      description: 'overflow gate open before the cut',
    });

    // Federated traffic: every id published at dc1 must reach orders.dc2 at dc2.
    const federated = new Set<string>();
    const fch = await c2.createChannel();
    await fch.consume('orders.dc2', (msg) => {
      if (!msg) return;
      federated.add(String(msg.properties.messageId));
      fch.ack(msg);
    });
    const pub = await c1.createConfirmChannel();
    const publishOrders = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++)
        pub.publish('orders', '', Buffer.from(`o-${i}`), { persistent: true, messageId: `o-${i}` });
      await pub.waitForConfirms();
    };
    await publishOrders(0, 100);

    let cutAt = 0;
    const observed: Record<string, number> = {};
    let passedDuringCut = false;
    const r = await overflowBurst({
      local: c1,
      remote: c2,
      queue: 'busy',
      remoteQueue: 'busy.spill',
      total: 40000,
      rate: 1500,
      localRate: 600,
      drainTimeoutMs: 240000,
      during: async (confirmed) => {
        await eventually(async () => (await rule()).status.state === 'active', {
          timeoutMs: 60000,
          intervalMs: 250,
          description: 'overflow active before the cut',
        });
        await eventually(() => confirmed() > 6000, { timeoutMs: 60000, intervalMs: 100 });

        for (const p of ['dc1', 'dc2'])
          expect((await ctl('POST', `/proxies/${p}/cut`, { mode: 'blackhole' })).status).toBe(200);
        cutAt = Date.now();
        // Watched from the cut on, beside the link change and the publishing below.
        const watch = async (what: string, check: () => Promise<string | true>) => {
          let last = '';
          await eventually(
            async () => {
              const r = await check();
              if (r === true) return true;
              last = r;
              return false;
            },
            { timeoutMs: 30000, intervalMs: 200, description: what },
          ).catch((err: Error) => {
            throw new Error(`${err.message}; last seen ${last}`);
          });
          observed[`${what}AfterMs`] = Date.now() - cutAt;
        };
        const linkDown = watch('down', async () => {
          const h = await health();
          return h.state === 'down' || JSON.stringify(h.state);
        });
        const suspended = watch('suspended', async () => {
          const st = (await rule()).status;
          return st.state === 'suspended' || `${st.state}: ${st.reason}`;
        });
        // A link change during the cut: the background reconciler applies it (the management
        // API is reachable), and a forced pass of the downstream cluster succeeds too.
        await t.http
          .patch(`/links/federation/${fedId}`)
          .set(admin())
          .send({ settings: { prefetchCount: 20 } })
          .expect(200);
        await reconcileClusters(t.http, [dc2]);
        observed.reconciledAfterMs = Date.now() - cutAt;
        passedDuringCut = true;
        await publishOrders(100, 200);
        await Promise.all([linkDown, suspended]);
        await sleep(Math.max(0, 12000 - (Date.now() - cutAt)));
        for (const p of ['dc1', 'dc2'])
          expect((await ctl('POST', `/proxies/${p}/restore`)).status).toBe(200);
        observed.cutMs = Date.now() - cutAt;
      },
    });
    const restoredAt = Date.now();

    expect(passedDuringCut).toBe(true);
    expect(r.nacks).toBe(0);
    expect(r.missing).toBe(0);
    expect(r.remote).toBeGreaterThan(0);

    await eventually(() => federated.size === 300, {
      timeoutMs: 120000,
      intervalMs: 500,
      description: 'all 300 federated messages at dc2',
    });
    await eventually(
      async () => {
        const h = await health();
        return h.state === 'healthy' && new Date(h.evaluatedAt).getTime() > restoredAt;
      },
      { timeoutMs: 120000, intervalMs: 500, description: 'link healthy after the restore' },
    );
    observed.healthyAfterRestoreMs = Date.now() - restoredAt;
    await eventually(async () => (await rule()).status.state !== 'suspended', {
      timeoutMs: 60000,
      intervalMs: 500,
      description: 'overflow leaves suspended after the restore',
    });
    await fch.close().catch(() => undefined);
    await pub.close().catch(() => undefined);

    // The change made during the cut is what the broker runs now.
    const ups = await m2.request<{ name: string; value: Record<string, unknown> }[]>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vhost)}`,
    );
    expect(ups.map((u) => u.value['prefetch-count'])).toContain(20);

    const audit = await t.http
      .get('/audit')
      .query({ resourceId: fedId, limit: 200 })
      .set(admin())
      .expect(200);
    const transitions = (audit.body.items as { action: string; after: { state?: string } }[])
      .filter((e) => e.action === 'link.health.changed')
      .map((e) => e.after.state);
    expect(transitions).toContain('down');
    expect((await t.http.get('/audit/verify').set(admin()).expect(200)).body.ok).toBe(true);
    const { timeline: _t, ...figures } = r;
    console.log(`partition: ${JSON.stringify({ ...figures, ...observed })}`);
  }, 420000);
});
