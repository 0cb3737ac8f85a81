import { randomBytes } from 'node:crypto';
import { controlRequest } from '../fixtures/wan-proxy';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
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
  plantOrders,
  reconcileClusters,
  registerTwoSites,
} from '../helpers/two-sites';

const enc = encodeURIComponent;

/**
 * A link's settings change while its backlog waits behind a cut WAN: the link restarts, and
 * because crossdock's upstreams say resource-cleanup-mode never, the upstream queue (and what
 * waits in it) survives; when the WAN returns, everything arrives.
 */
describe.each(['reset', 'blackhole'] as const)(
  'changing a link while messages wait on the WAN (%s cut)',
  (mode) => {
    let t: TestApp;
    let db: { name: string; url: string };
    let state: SitesState;
    let dc1: RegisteredSite;
    let dc2: RegisteredSite;
    let m1: TestManagement;
    let m2: TestManagement;
    const vhost = `wanchg-${mode}-${randomBytes(3).toString('hex')}`;
    const admin = () => bearer(bootstrapToken());
    const ctl = (method: string, path: string, json?: unknown) =>
      controlRequest(state.wanProxy.controlPort, method, path, { json });

    beforeAll(async () => {
      state = loadSites();
      [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
      db = await createMigratedDatabase('crossdock_wanchg');
      t = await createTestApp({ DATABASE_URL: db.url });
      ({ dc1, dc2 } = await registerTwoSites(t.http, state, vhost));
    });
    afterAll(async () => {
      await ctl('POST', '/proxies/dc1/restore');
      await t?.close();
      if (db) await dropDatabase(db.name);
      for (const m of [m1, m2]) await m?.deleteVhost(vhost);
    });

    it('loses nothing', async () => {
      await plantOrders(m1, m2, vhost);
      const linkId = await createOrdersFederation(t.http, { dc1, dc2 }, vhost, {
        prefetchCount: 50,
      });
      await reconcileClusters(t.http, [dc1, dc2]);
      const fedQueue = await eventually(
        async () =>
          (
            await m1.request<{ name: string }[]>('GET', `/api/queues/${enc(vhost)}?columns=name`)
          ).find((q) => q.name.startsWith('federation: orders')) ?? false,
        { timeoutMs: 30000, description: 'upstream federation queue' },
      );
      // Publish only once the link has bound upstream (before that, upstream publishes are unroutable).
      await eventually(
        async () =>
          (
            await m1.request<{ destination: string }[]>(
              'GET',
              `/api/exchanges/${enc(vhost)}/orders/bindings/source`,
            )
          ).some((b) => b.destination.startsWith('federation:')),
        { timeoutMs: 30000, description: 'federation binding upstream' },
      );

      // Cut the WAN in front of dc1 (dc2's link connects through it) and publish at dc1. Under a
      // blackhole the restarted link's new connection hangs in the cut (its connect is accepted,
      // nothing answers) and goes through when the WAN returns, as a retransmitted SYN would.
      expect((await ctl('POST', '/proxies/dc1/cut', { mode })).status).toBe(200);
      const total = 200;
      for (let i = 0; i < total; i++) {
        await m1.request('POST', `/api/exchanges/${enc(vhost)}/orders/publish`, {
          properties: { delivery_mode: 2 },
          routing_key: '',
          payload: `o-${i}`,
          payload_encoding: 'string',
        });
      }
      // Change the link while the backlog waits upstream: the upstream is rewritten, the link restarts.
      await t.http
        .patch(`/links/federation/${linkId}`)
        .set(admin())
        .send({ settings: { prefetchCount: 20 } })
        .expect(200);
      const changed = (
        await t.http.post('/reconcile').set(admin()).send({ clusterId: dc2.clusterId }).expect(200)
      ).body.runs[0];
      expect(changed.status).toBe('succeeded');
      expect(changed.summary.updates).toBeGreaterThanOrEqual(1);
      // The upstream queue survived the restart.
      const queues = (
        await m1.request<{ name: string }[]>('GET', `/api/queues/${enc(vhost)}?columns=name`)
      ).map((q) => q.name);
      expect(queues).toContain(fedQueue.name);

      expect((await ctl('POST', '/proxies/dc1/restore')).status).toBe(200);
      const got = new Set<string>();
      await eventually(
        async () => {
          const msgs = await m2.request<{ payload: string }[]>(
            'POST',
            `/api/queues/${enc(vhost)}/orders.dc2/get`,
            { count: 500, ackmode: 'ack_requeue_false', encoding: 'auto' },
          );
          for (const m of msgs) got.add(m.payload);
          return got.size === total;
        },
        { timeoutMs: 90000, intervalMs: 1000, description: `all ${total} messages at dc2` },
      );
      expect(got.size).toBe(total);
    }, 150000);
  },
);
