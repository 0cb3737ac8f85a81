import { randomBytes } from 'node:crypto';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { consistently, eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  TestManagement,
  type SitesState,
} from '../helpers/sites';

const enc = encodeURIComponent;

describe('cross-site links reconciled onto real clusters', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `links-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());

  const reconcile = async (clusterId: string, extra: Record<string, unknown> = {}) => {
    const res = await t.http
      .post('/reconcile')
      .set(admin())
      .send({ clusterId, ...extra })
      .expect(200);
    return res.body.runs[0];
  };
  const publish = (m: TestManagement, exchange: string, key: string, payload: string) =>
    m.request<{ routed: boolean }>(
      'POST',
      `/api/exchanges/${enc(vhost)}/${enc(exchange)}/publish`,
      {
        properties: { delivery_mode: 2 },
        routing_key: key,
        payload,
        payload_encoding: 'string',
      },
    );
  const depth = async (m: TestManagement, queue: string) =>
    (await m.request<{ messages?: number }>('GET', `/api/queues/${enc(vhost)}/${enc(queue)}`))
      .messages ?? 0;
  const getAll = async (m: TestManagement, queue: string, count = 100) =>
    m.request<{ payload: string }[]>('POST', `/api/queues/${enc(vhost)}/${enc(queue)}/get`, {
      count,
      ackmode: 'ack_requeue_false',
      encoding: 'auto',
    });

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_links');
    t = await createTestApp({ DATABASE_URL: db.url });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]);
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  });

  it('federates an exchange from dc1 to dc2 across the WAN proxy, converges, heals drift and reports shadowing', async () => {
    for (const m of [m1, m2])
      await m.request('PUT', `/api/exchanges/${enc(vhost)}/events`, {
        type: 'topic',
        durable: true,
      });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/sink`, { durable: true });
    await m2.request('POST', `/api/bindings/${enc(vhost)}/e/events/q/sink`, { routing_key: '#' });
    // Planted, unmanaged: must never be touched.
    await m2.request('PUT', `/api/parameters/federation-upstream/${enc(vhost)}/hand-made`, {
      value: { uri: 'amqp://nowhere.invalid' },
    });

    const link = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'events-dc1-dc2',
        kind: 'exchange',
        downstream: { clusterId: dc2.clusterId, vhost },
        upstream: { clusterId: dc1.clusterId, vhost },
        targets: ['events'],
        settings: { reconnectDelaySeconds: 1 },
      })
      .expect(201);
    expect(link.body.warnings.join(' ')).toMatch(/bind a queue downstream/);

    const up = await reconcile(dc1.clusterId);
    expect(up.status).toBe('succeeded');
    const down = await reconcile(dc2.clusterId);
    expect(down.status).toBe('succeeded');
    expect(down.summary.creates).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(down)).not.toContain(state.admin.password);

    // The link binds its upstream queue only after the downstream binding exists: wait for it.
    await eventually(
      async () =>
        (
          await m1.request<{ destination: string }[]>(
            'GET',
            `/api/exchanges/${enc(vhost)}/events/bindings/source`,
          )
        ).some((b) => b.destination.startsWith('federation:')),
      { timeoutMs: 30000, description: 'federation binding upstream' },
    );
    // The link binds upstream before it reports running (seconds apart behind WAN latency).
    const links = await eventually(
      async () => {
        const list = await m2.request<{ status: string; upstream: string }[]>(
          'GET',
          `/api/federation-links/${enc(vhost)}`,
        );
        return list.every((l) => l.status === 'running') ? list : false;
      },
      { timeoutMs: 30000, description: 'link running' },
    );
    expect(links).toEqual([
      expect.objectContaining({ status: 'running', upstream: 'crossdock.up.events-dc1-dc2' }),
    ]);

    const status = await t.http
      .get(`/links/federation/${link.body.id}/status`)
      .set(admin())
      .expect(200);
    expect(status.body).toMatchObject({
      verdict: 'running',
      expectedLinks: 1,
      observedLinks: 1,
      appliedGeneration: 1,
      generation: 1,
    });
    await publish(m1, 'events', 'orders.created', 'hello from dc1');
    await eventually(async () => (await depth(m2, 'sink')) >= 1, {
      timeoutMs: 15000,
      description: 'message crossed to dc2',
    });
    expect((await getAll(m2, 'sink')).map((x) => x.payload)).toEqual(['hello from dc1']);

    // A pass with nothing to change writes nothing.
    const noop = await reconcile(dc2.clusterId);
    expect(noop.summary).toMatchObject({ creates: 0, updates: 0, deletes: 0 });

    // Drift: a generated policy deleted by hand comes back on the next pass, audited.
    const policies = await m2.request<{ name: string }[]>('GET', `/api/policies/${enc(vhost)}`);
    const generated = policies.find((p) => p.name.startsWith('crossdock.p.'));
    expect(generated).toBeDefined();
    await m2.request('DELETE', `/api/policies/${enc(vhost)}/${enc(generated!.name)}`);
    const healed = await reconcile(dc2.clusterId);
    expect(healed.summary).toMatchObject({ creates: 1, updates: 0, deletes: 0 });
    expect(
      (await m2.request<{ name: string }[]>('GET', `/api/policies/${enc(vhost)}`)).map(
        (p) => p.name,
      ),
    ).toContain(generated!.name);
    const audit = await t.http
      .get('/audit')
      .query({ clusterId: dc2.clusterId, action: 'reconcile.create.succeeded' })
      .set(admin())
      .expect(200);
    expect(audit.body.items.length).toBeGreaterThanOrEqual(1);

    // A hand-made policy of higher priority over the federated exchange is reported, not touched.
    await m2.request('PUT', `/api/policies/${enc(vhost)}/hand-shadow`, {
      pattern: '^events$',
      definition: { 'alternate-exchange': 'x' },
      priority: 900,
      'apply-to': 'exchanges',
    });
    const shadow = await reconcile(dc2.clusterId);
    expect(shadow.findings.map((f: { kind: string }) => f.kind)).toContain('shadowed');
    expect(shadow.summary).toMatchObject({ creates: 0, updates: 0, deletes: 0 });
    await m2.request('DELETE', `/api/policies/${enc(vhost)}/hand-shadow`);

    // Deleting the link removes every managed object of dc2: the audited delete explains it,
    // so the guard lets the pass through without confirmDeletes.
    await t.http.delete(`/links/federation/${link.body.id}`).set(admin()).expect(204);
    const removed = await reconcile(dc2.clusterId);
    expect(removed.status).toBe('succeeded');
    expect(removed.summary.unexplainedDeletes).toBe(0);
    const upstreams = (
      await m2.request<{ name: string }[]>(
        'GET',
        `/api/parameters/federation-upstream/${enc(vhost)}`,
      )
    ).map((p) => p.name);
    expect(upstreams).toEqual(['hand-made']);
    expect(
      (await m2.request<{ name: string }[]>('GET', `/api/policies/${enc(vhost)}`)).filter((p) =>
        p.name.startsWith('crossdock.'),
      ),
    ).toEqual([]);
    // The user's exchange, queue and binding stay.
    expect((await m2.request<{ name: string }>('GET', `/api/queues/${enc(vhost)}/sink`)).name).toBe(
      'sink',
    );
    const bindings = await m2.request<{ destination: string }[]>(
      'GET',
      `/api/exchanges/${enc(vhost)}/events/bindings/source`,
    );
    expect(bindings.map((b) => b.destination)).toContain('sink');
  });

  it('moves messages with a shovel; pause removes it at the broker and messages wait; resume lets them flow', async () => {
    await m1.request('PUT', `/api/queues/${enc(vhost)}/outbox`, { durable: true });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/inbox`, { durable: true });
    for (let i = 0; i < 5; i++) await publish(m1, '', 'outbox', `m${i}`);
    const sh = await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: 'outbox-to-dc2',
        source: { clusterId: dc1.clusterId, vhost, queue: 'outbox' },
        destination: { clusterId: dc2.clusterId, vhost, queue: 'inbox' },
        settings: { reconnectDelaySeconds: 1, prefetchCount: 10 },
      })
      .expect(201);
    expect((await reconcile(dc2.clusterId)).status).toBe('succeeded'); // link user on the destination
    expect((await reconcile(dc1.clusterId)).status).toBe('succeeded');
    await eventually(async () => (await depth(m2, 'inbox')) === 5, {
      timeoutMs: 20000,
      description: '5 messages shovelled',
    });

    await t.http.post(`/links/shovels/${sh.body.id}/pause`).set(admin()).expect(200);
    // The audited pause explains the deletes: no confirmDeletes, even for the last shovel.
    const paused = await reconcile(dc1.clusterId);
    expect(paused.status).toBe('succeeded');
    expect(paused.summary.unexplainedDeletes).toBe(0);
    expect(await m1.request<unknown[]>('GET', `/api/parameters/shovel/${enc(vhost)}`)).toEqual([]);
    for (let i = 5; i < 8; i++) await publish(m1, '', 'outbox', `m${i}`);
    await eventually(async () => (await depth(m1, 'outbox')) === 3, {
      timeoutMs: 10000,
      description: 'messages reach the source queue',
    });
    await consistently(async () => (await depth(m1, 'outbox')) === 3, 1500, {
      intervalMs: 250,
      description: 'messages wait in the source while paused',
    });

    await t.http.post(`/links/shovels/${sh.body.id}/resume`).set(admin()).expect(200);
    expect((await reconcile(dc1.clusterId)).status).toBe('succeeded');
    await eventually(async () => (await depth(m2, 'inbox')) === 8, {
      timeoutMs: 20000,
      description: 'the rest flows after resume',
    });
    const runs = await t.http
      .get('/reconcile/runs')
      .query({ clusterId: dc1.clusterId })
      .set(admin())
      .expect(200);
    expect(runs.body.items.length).toBeGreaterThanOrEqual(3);
  });
});
