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
  TestManagement,
  type SitesState,
} from '../helpers/sites';

const enc = encodeURIComponent;

/**
 * Preflight on real brokers: a shovel whose destination queue is missing on the remote site is
 * accepted with a warning naming queue and cluster, its status says it is blocked, and once the
 * queue exists it recovers by itself and moves messages.
 */
describe('link preflight (real brokers)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `preflight-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_preflight');
    t = await createTestApp({
      DATABASE_URL: db.url,
      RECONCILE_ENABLED: 'true',
      RECONCILE_INTERVAL_MS: '1000',
    });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]);
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  });

  it('a shovel to a missing remote queue: 201 with a warning, blocked, then recovers and moves messages once the queue exists', async () => {
    await m1.request('PUT', `/api/queues/${enc(vhost)}/outbox`, { durable: true });
    const created = await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: 'to-missing',
        source: { clusterId: dc1.clusterId, vhost, queue: 'outbox' },
        destination: { clusterId: dc2.clusterId, vhost, queue: 'landing' },
        settings: { reconnectDelaySeconds: 1 },
      })
      .expect(201);
    const id = created.body.id as string;
    const warnings = created.body.warnings as string[];
    const missing = warnings.find((w) => w.includes('destination queue "landing" missing on'));
    expect(missing).toBeDefined();
    // The cluster is named the way the registry names it (site/cluster).
    const dc2Name = (await t.http.get(`/clusters/${dc2.clusterId}`).set(admin()).expect(200)).body
      .name as string;
    expect(missing).toContain(`/${dc2Name}`);

    // A plain GET does not run the preflight: no warnings stored on the shovel.
    const plain = await t.http.get(`/links/shovels/${id}`).set(admin()).expect(200);
    expect(plain.body.warnings).toBeUndefined();

    const blocked = await eventually(
      async () => {
        const s = await t.http.get(`/links/shovels/${id}/status`).set(admin()).expect(200);
        return s.body.verdict === 'blocked' && s.body.appliedGeneration >= 1 ? s.body : false;
      },
      { timeoutMs: 20000, description: 'shovel blocked' },
    );
    expect(blocked.blocked).toMatch(
      new RegExp(`^blocked: destination queue "landing" missing on .*/${dc2Name}$`),
    );

    for (let i = 0; i < 5; i++)
      await m1.request('POST', `/api/exchanges/${enc(vhost)}/amq.default/publish`, {
        properties: { delivery_mode: 2 },
        routing_key: 'outbox',
        payload: `m${i}`,
        payload_encoding: 'string',
      });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/landing`, { durable: true });

    const recovered = await eventually(
      async () => {
        const s = await t.http.get(`/links/shovels/${id}/status`).set(admin()).expect(200);
        return s.body.verdict === 'running' && s.body.blocked === undefined ? s.body : false;
      },
      { timeoutMs: 25000, description: 'shovel running again' },
    );
    expect(recovered.broker[0].status).toBe('running');

    const arrived: string[] = [];
    await eventually(
      async () => {
        const got = await m2.request<{ payload: string }[]>(
          'POST',
          `/api/queues/${enc(vhost)}/landing/get`,
          { count: 100, ackmode: 'ack_requeue_false', encoding: 'auto' },
        );
        arrived.push(...got.map((x) => x.payload));
        return arrived.length >= 5;
      },
      { timeoutMs: 15000, description: 'messages moved' },
    );
    expect(arrived.sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);

    // A change checks again: nothing missing any more.
    const patched = await t.http
      .patch(`/links/shovels/${id}`)
      .set(admin())
      .send({ settings: { prefetchCount: 100 } })
      .expect(200);
    expect(patched.body.warnings).toEqual([]);
  });
  it('declareDestination: the link user may declare exactly that queue, the shovel declares it and messages move', async () => {
    await m1.request('PUT', `/api/queues/${enc(vhost)}/outbox2`, { durable: true });
    const created = await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: 'declares-it',
        source: { clusterId: dc1.clusterId, vhost, queue: 'outbox2' },
        destination: { clusterId: dc2.clusterId, vhost, queue: 'made-by-shovel' },
        settings: { reconnectDelaySeconds: 1, declareDestination: true },
      })
      .expect(201);
    const id = created.body.id as string;
    expect(created.body.warnings).toEqual([
      expect.stringMatching(
        /^destination queue "made-by-shovel" missing on .*: the link declares it \(classic, durable\)$/,
      ),
    ]);
    await eventually(
      async () => {
        const s = await t.http.get(`/links/shovels/${id}/status`).set(admin()).expect(200);
        return s.body.verdict === 'running' && s.body.blocked === undefined;
      },
      { timeoutMs: 25000, description: 'shovel running' },
    );
    const perms = await m2.request<{ user: string; configure: string }[]>(
      'GET',
      `/api/vhosts/${enc(vhost)}/permissions`,
    );
    const link = perms.filter((p) => p.user.startsWith('crossdock-link'));
    expect(link.length).toBeGreaterThan(0);
    for (const p of link) expect(p.configure).toContain('|^(made-by-shovel)$');
    await m1.request('POST', `/api/exchanges/${enc(vhost)}/amq.default/publish`, {
      properties: { delivery_mode: 2 },
      routing_key: 'outbox2',
      payload: 'hello',
      payload_encoding: 'string',
    });
    await eventually(
      async () =>
        (
          await m2.request<{ payload: string }[]>(
            'POST',
            `/api/queues/${enc(vhost)}/made-by-shovel/get`,
            { count: 10, ackmode: 'ack_requeue_false', encoding: 'auto' },
          )
        ).some((x) => x.payload === 'hello'),
      { timeoutMs: 15000, description: 'message moved into the declared queue' },
    );
  });
  it('a federation link from a missing upstream queue: warning naming it, status blocked until it exists', async () => {
    await m1.request('PUT', `/api/queues/${enc(vhost)}/from_up`, { durable: true });
    const created = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'from-missing',
        kind: 'queue',
        downstream: { clusterId: dc1.clusterId, vhost },
        upstream: { clusterId: dc2.clusterId, vhost, queue: 'to_down' },
        targets: ['from_up'],
      })
      .expect(201);
    const id = created.body.id as string;
    expect(created.body.warnings).toContainEqual(
      expect.stringMatching(/^upstream queue "to_down" missing on .*\/.*$/),
    );
    const blocked = await eventually(
      async () => {
        const s = await t.http.get(`/links/federation/${id}/status`).set(admin()).expect(200);
        return s.body.blocked ? s.body : false;
      },
      { timeoutMs: 15000, description: 'federation link blocked' },
    );
    expect(blocked.blocked).toMatch(/^blocked: upstream queue "to_down" missing on /);
    await m2.request('PUT', `/api/queues/${enc(vhost)}/to_down`, { durable: true });
    await eventually(
      async () => {
        const s = await t.http.get(`/links/federation/${id}/status`).set(admin()).expect(200);
        return s.body.blocked === undefined && s.body.verdict !== 'blocked';
      },
      { timeoutMs: 20000, description: 'federation link no longer blocked' },
    );
  });
});
