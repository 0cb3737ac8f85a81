import { randomBytes } from 'node:crypto';
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

interface Finding {
  kind: string;
  key: { kind: string; vhost: string; name: string };
}
interface Run {
  status: string;
  operations: { op: string; key: { kind: string; name: string } }[];
  findings: Finding[];
}

/**
 * Upstreams say `resource-cleanup-mode: never`, so a link never deletes its upstream queue and
 * the upstream exchange keeps routing into it. Deleting an exchange-federation link (deletion
 * policy delete) must therefore delete that queue (and the internal exchange in front of it) on
 * the upstream cluster, but only once the downstream no longer runs the link; retain, pause and
 * queue federation leave the upstream alone; what crossdock cannot attribute stays an orphan.
 */
describe('deleting a link deletes its WAN backlog on the upstream cluster', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `backlog-${randomBytes(3).toString('hex')}`;
  const linkUser = `link-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());

  const reconcile = async (c: RegisteredSite, confirmDeletes = false): Promise<Run> =>
    (
      await t.http
        .post('/reconcile')
        .set(admin())
        .send({ clusterId: c.clusterId, confirmDeletes })
        .expect(200)
    ).body.runs[0] as Run;
  const queues = async () =>
    (await m1.request<{ name: string }[]>('GET', `/api/queues/${enc(vhost)}?columns=name`)).map(
      (q) => q.name,
    );
  const exchanges = async () =>
    (await m1.request<{ name: string }[]>('GET', `/api/exchanges/${enc(vhost)}?columns=name`)).map(
      (x) => x.name,
    );
  /** Live totals: the vhost listing with queue totals (a single-queue GET omits them). */
  const depth = async (queue: string) =>
    (
      await m1.request<{ name: string; messages?: number }[]>(
        'GET',
        `/api/queues/${enc(vhost)}?disable_stats=true&enable_queue_totals=true&columns=name,messages`,
      )
    ).find((q) => q.name === queue)?.messages ?? 0;
  const publish = (exchange: string, n: number) =>
    (async () => {
      for (let i = 0; i < n; i++)
        await m1.request('POST', `/api/exchanges/${enc(vhost)}/${enc(exchange)}/publish`, {
          properties: { delivery_mode: 2 },
          routing_key: exchange === 'amq.default' ? 'work' : 'k',
          payload: `m-${i}`,
          payload_encoding: 'string',
        });
    })();
  const link = async (name: string, body: Record<string, unknown>) =>
    (
      await t.http
        .post('/links/federation')
        .set(admin())
        .send({
          name,
          kind: 'exchange',
          downstream: { clusterId: dc2.clusterId, vhost },
          upstream: { clusterId: dc1.clusterId, vhost },
          targets: [name],
          settings: { reconnectDelaySeconds: 1 },
          ...body,
        })
        .expect(201)
    ).body as { id: string; version: number };
  const fedQueue = (x: string) => `federation: ${x} -> ${dc2.local.clusterName}`;
  const names = (run: Run, kind: string) =>
    run.findings.filter((f) => f.kind === kind).map((f) => `${f.key.kind} ${f.key.name}`);

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_backlog');
    // A link user of its own: other runs on the shared sites rewrite the default one's password.
    t = await createTestApp({ DATABASE_URL: db.url, LINK_USER_NAME: linkUser });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]);
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
    for (const m of [m1, m2])
      await m?.request('DELETE', `/api/users/${linkUser}`).catch(() => undefined);
  });

  it('deletes the queue and its exchange after the downstream pass; retain, pause and queue federation keep theirs', async () => {
    const fedExchanges = ['ev-run', 'ev-held', 'ev-keep', 'ev-paused'];
    for (const m of [m1, m2]) {
      for (const x of fedExchanges)
        await m.request('PUT', `/api/exchanges/${enc(vhost)}/${x}`, {
          type: 'fanout',
          durable: true,
        });
      await m.request('PUT', `/api/queues/${enc(vhost)}/work`, { durable: true });
    }
    for (const x of fedExchanges) {
      await m2.request('PUT', `/api/queues/${enc(vhost)}/${x}.sink`, { durable: true });
      await m2.request('POST', `/api/bindings/${enc(vhost)}/e/${x}/q/${x}.sink`, {
        routing_key: '',
      });
    }
    // Planted by hand: crossdock cannot attribute it, so it stays and is reported.
    await m1.request('PUT', `/api/queues/${enc(vhost)}/${enc('federation: ghost -> nowhere')}`, {
      durable: true,
    });

    const run = await link('ev-run', {});
    const held = await link('ev-held', {});
    const keep = await link('ev-keep', { deletionPolicy: 'retain' });
    const paused = await link('ev-paused', {});
    const qfed = await link('work', { kind: 'queue' });
    expect((await reconcile(dc1)).status).toBe('succeeded');
    expect((await reconcile(dc2)).status).toBe('succeeded');
    // Each link has bound its upstream queue (through the internal exchange) to the exchange.
    for (const x of fedExchanges)
      await eventually(
        async () =>
          (
            await m1.request<{ destination: string }[]>(
              'GET',
              `/api/exchanges/${enc(vhost)}/${x}/bindings/source`,
            )
          ).some((b) => b.destination === `${fedQueue(x)} B`),
        { timeoutMs: 30000, description: `${x} federated from dc1` },
      );
    expect(await queues()).toEqual(expect.arrayContaining(fedExchanges.map(fedQueue)));

    // ev-held: paused first, so a backlog builds up in its upstream queue (the upstream exchange
    // keeps routing into it), then deleted while paused. ev-paused stays paused with a backlog.
    for (const l of [held, paused])
      await t.http.post(`/links/federation/${l.id}/pause`).set(admin()).expect(200);
    expect((await reconcile(dc2)).status).toBe('succeeded');
    await publish('ev-held', 20);
    await publish('ev-paused', 5);
    await publish('amq.default', 3); // into the user's queue `work` on dc1
    await eventually(async () => (await depth(fedQueue('ev-held'))) === 20, {
      timeoutMs: 15000,
      description: 'backlog of 20 in the held link queue',
    });

    const del = (l: { id: string }) =>
      t.http.delete(`/links/federation/${l.id}`).set(admin()).expect(204);
    for (const l of [run, held, keep, qfed]) await del(l);

    // Upstream first: the downstream has not had a pass since the deletion, so nothing goes yet.
    const early = await reconcile(dc1);
    expect(early.status).toBe('succeeded');
    expect(early.operations.filter((o) => o.op === 'delete')).toEqual([]);
    expect(names(early, 'pending-cleanup').sort()).toEqual(
      [
        `exchange ${fedQueue('ev-held')} B`,
        `exchange ${fedQueue('ev-run')} B`,
        `queue ${fedQueue('ev-held')}`,
        `queue ${fedQueue('ev-run')}`,
      ].sort(),
    );
    expect(await depth(fedQueue('ev-held'))).toBe(20);

    // The downstream drops the deleted links' upstreams (every managed object: confirm).
    const down = await reconcile(dc2, true);
    expect(down.status).toBe('succeeded');
    const upstreams = (
      await m2.request<{ name: string }[]>(
        'GET',
        `/api/parameters/federation-upstream/${enc(vhost)}`,
      )
    ).map((u) => u.name);
    expect(upstreams).toEqual(['crossdock.up.ev-keep']); // retain: left running, unmanaged

    const cleaned = await reconcile(dc1);
    expect(cleaned.status).toBe('succeeded');
    expect(cleaned.operations.map((o) => `${o.op} ${o.key.kind} ${o.key.name}`).sort()).toEqual(
      [
        `delete exchange ${fedQueue('ev-held')} B`,
        `delete exchange ${fedQueue('ev-run')} B`,
        `delete queue ${fedQueue('ev-held')}`,
        `delete queue ${fedQueue('ev-run')}`,
      ].sort(),
    );
    const qs = await queues();
    expect(qs).not.toContain(fedQueue('ev-run'));
    expect(qs).not.toContain(fedQueue('ev-held'));
    // retain and pause keep their upstream queue; queue federation never had one; the user's
    // queue keeps its messages.
    expect(qs).toEqual(
      expect.arrayContaining([fedQueue('ev-keep'), fedQueue('ev-paused'), 'work']),
    );
    expect(await depth(fedQueue('ev-paused'))).toBe(5);
    expect(await depth('work')).toBe(3);
    const xs = await exchanges();
    expect(xs).not.toContain(`${fedQueue('ev-held')} B`);
    expect(xs).toContain(`${fedQueue('ev-paused')} B`);
    // Nothing routes from the upstream exchange into the deleted backlog any more.
    const routes = await m1.request<{ destination: string }[]>(
      'GET',
      `/api/exchanges/${enc(vhost)}/ev-held/bindings/source`,
    );
    expect(routes).toEqual([]);
    // The retained link's queue is no longer explained by a crossdock link: an orphan, like the
    // planted one. The paused link's queue is not.
    expect(names(cleaned, 'orphan-federation-queue').sort()).toEqual([
      `queue ${fedQueue('ev-keep')}`,
      'queue federation: ghost -> nowhere',
    ]);

    // Audited like every reconcile operation, and done: the next pass writes nothing.
    const audit = await t.http
      .get('/audit')
      .query({ clusterId: dc1.clusterId, action: 'reconcile.delete.succeeded', limit: 50 })
      .set(admin())
      .expect(200);
    expect(audit.body.items.map((e: { resource: { name: string } }) => e.resource.name)).toEqual(
      expect.arrayContaining([`queue ${vhost} ${fedQueue('ev-held')}`]),
    );
    const again = await reconcile(dc1);
    expect(again.operations).toEqual([]);
    expect(names(again, 'pending-cleanup')).toEqual([]);
  });
});
