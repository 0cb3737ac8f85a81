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
 * Exchanges, queues and bindings declared through crossdock, on real brokers: a shovel blocked on
 * a missing remote queue runs once the queue is declared through crossdock; a queue the broker
 * holds with other arguments is a conflict, never deleted; deleting a queue follows its deletion
 * policy, and one holding messages needs confirmation.
 */
describe('topology objects (real brokers)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `topo-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const queueOn = (m: TestManagement, name: string) =>
    m
      .request<{ arguments: Record<string, unknown>; messages?: number }>(
        'GET',
        `/api/queues/${enc(vhost)}/${enc(name)}`,
      )
      .then(
        (q) => q,
        () => null,
      );
  const reconcile = (clusterId: string) =>
    t.http.post('/reconcile').set(admin()).send({ clusterId }).expect(200);
  const publish = (m: TestManagement, exchange: string, key: string, payload: string) =>
    m.request('POST', `/api/exchanges/${enc(vhost)}/${enc(exchange)}/publish`, {
      properties: { delivery_mode: 2 },
      routing_key: key,
      payload,
      payload_encoding: 'string',
    });

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_topology');
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

  it('a shovel to a missing remote queue is blocked, then runs once the queue is declared through crossdock', async () => {
    await t.http
      .post('/queues')
      .set(admin())
      .send({ clusterId: dc1.clusterId, vhost, name: 'outbox' })
      .expect(201);
    const created = await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: 'to-landing',
        source: { clusterId: dc1.clusterId, vhost, queue: 'outbox' },
        destination: { clusterId: dc2.clusterId, vhost, queue: 'landing' },
        settings: { reconnectDelaySeconds: 1 },
      })
      .expect(201);
    const id = created.body.id as string;
    // The declared source queue is no warning; the missing destination is.
    expect(created.body.warnings).toEqual([
      expect.stringMatching(/^destination queue "landing" missing on /),
    ]);
    const dc2Name = (await t.http.get(`/clusters/${dc2.clusterId}`).set(admin()).expect(200)).body
      .name as string;
    const blocked = await eventually(
      async () => {
        const s = await t.http.get(`/links/shovels/${id}/status`).set(admin()).expect(200);
        return s.body.verdict === 'blocked' ? s.body : false;
      },
      { timeoutMs: 20000, description: 'shovel blocked' },
    );
    expect(blocked.blocked).toMatch(
      new RegExp(`^blocked: destination queue "landing" missing on .*/${dc2Name}$`),
    );
    await eventually(async () => (await queueOn(m1, 'outbox')) !== null, {
      timeoutMs: 10000,
      description: 'outbox declared by crossdock',
    });
    for (let i = 0; i < 5; i++) await publish(m1, 'amq.default', 'outbox', `m${i}`);

    const landing = await t.http
      .post('/queues')
      .set(admin())
      .send({ clusterId: dc2.clusterId, vhost, name: 'landing', type: 'quorum' })
      .expect(201);
    expect(landing.body).toMatchObject({
      type: 'quorum',
      deletionPolicy: 'retain',
      status: 'pending',
    });

    const arrived: string[] = [];
    await eventually(
      async () => {
        const got = await m2
          .request<{ payload: string }[]>('POST', `/api/queues/${enc(vhost)}/landing/get`, {
            count: 100,
            ackmode: 'ack_requeue_false',
            encoding: 'auto',
          })
          .catch(() => []);
        arrived.push(...got.map((x) => x.payload));
        return arrived.length >= 5;
      },
      { timeoutMs: 25000, description: 'messages moved' },
    );
    expect(arrived.sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    // Status reads share a short-lived preflight: the verdict clears within seconds, by itself.
    await eventually(
      async () => {
        const s = await t.http.get(`/links/shovels/${id}/status`).set(admin()).expect(200);
        return s.body.verdict === 'running' && s.body.blocked === undefined;
      },
      { timeoutMs: 15000, description: 'shovel no longer blocked' },
    );
    const q = await t.http
      .get(`/queues/${landing.body.id as string}`)
      .set(admin())
      .expect(200);
    expect(q.body.status).toBe('present');
    expect((await queueOn(m2, 'landing'))?.arguments).toEqual({ 'x-queue-type': 'quorum' });

    // An exchange and a binding declared through crossdock route into the queue.
    await t.http
      .post('/exchanges')
      .set(admin())
      .send({ clusterId: dc2.clusterId, vhost, name: 'events', type: 'topic' })
      .expect(201);
    const binding = await t.http
      .post('/bindings')
      .set(admin())
      .send({
        clusterId: dc2.clusterId,
        vhost,
        source: 'events',
        destinationType: 'queue',
        destination: 'landing',
        routingKey: 'eu.#',
      })
      .expect(201);
    expect(binding.body.warnings).toEqual([]);
    const dangling = await t.http
      .post('/bindings')
      .set(admin())
      .send({
        clusterId: dc2.clusterId,
        vhost,
        source: 'events',
        destinationType: 'queue',
        destination: 'nowhere',
      })
      .expect(201);
    expect(dangling.body.warnings).toEqual([
      expect.stringMatching(
        /^destination queue "nowhere" is neither declared in crossdock nor seen on /,
      ),
    ]);
    await t.http
      .delete(`/bindings/${dangling.body.id as string}`)
      .set(admin())
      .expect(204);
    await eventually(
      async () =>
        (await t.http.get(`/bindings/${binding.body.id as string}`).set(admin())).body.status ===
        'present',
      { timeoutMs: 15000, description: 'binding present' },
    );
    await publish(m2, 'events', 'eu.orders', 'routed');
    await eventually(async () => (await queueOn(m2, 'landing'))?.messages === 1, {
      timeoutMs: 15000,
      description: 'routed through the declared binding',
    });
    // Deleting the binding removes it from the broker.
    await t.http
      .delete(`/bindings/${binding.body.id as string}`)
      .set(admin())
      .expect(204);
    await eventually(
      async () => {
        const bs = await m2.request<unknown[]>(
          'GET',
          `/api/bindings/${enc(vhost)}/e/events/q/landing`,
        );
        return bs.length === 0;
      },
      { timeoutMs: 15000, description: 'binding removed' },
    );
  });

  it('a queue the broker holds with other arguments is a conflict naming both definitions, never deleted', async () => {
    await m2.request('PUT', `/api/queues/${enc(vhost)}/legacy`, {
      durable: true,
      arguments: { 'x-max-length': 5 },
    });
    await publish(m2, 'amq.default', 'legacy', 'keep-me');
    const created = await t.http
      .post('/queues')
      .set(admin())
      .send({ clusterId: dc2.clusterId, vhost, name: 'legacy', arguments: { 'x-max-length': 10 } })
      .expect(201);
    const id = created.body.id as string;
    const conflict = await eventually(
      async () => {
        const g = await t.http.get(`/queues/${id}`).set(admin()).expect(200);
        return g.body.status === 'conflict' ? (g.body.conflict as string) : false;
      },
      { timeoutMs: 15000, description: 'conflict reported' },
    );
    expect(conflict).toContain('"x-max-length":10');
    expect(conflict).toContain('"x-max-length":5');
    // A pass running at the same moment answers `busy`: ask again.
    const plan = await eventually(
      async () => {
        const p = await t.http.get(`/clusters/${dc2.clusterId}/plan`).set(admin()).expect(200);
        return p.body.status === 'planned' ? p : false;
      },
      { timeoutMs: 10000, description: 'a plan' },
    );
    expect(plan.body.operations).toEqual([]);
    expect(plan.body.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'definition-conflict',
          key: { kind: 'queue', vhost, name: 'legacy' },
        }),
      ]),
    );
    await reconcile(dc2.clusterId);
    const q = await eventually(
      async () => {
        const x = await queueOn(m2, 'legacy');
        return x?.messages === undefined ? false : x;
      },
      { timeoutMs: 15000, description: 'legacy queue depth' },
    );
    expect(q.arguments).toEqual({ 'x-max-length': 5 });
    expect(q.messages).toBe(1);

    // Import (opt-in) adopts a queue made by hand as a declared resource; export carries it.
    await m2.request('PUT', `/api/queues/${enc(vhost)}/by-hand`, {
      durable: true,
      arguments: { 'x-message-ttl': 60000 },
    });
    const imported = await t.http
      .post(`/clusters/${dc2.clusterId}/import`)
      .set(admin())
      .send({ dryRun: false, vhosts: [vhost], topology: true })
      .expect(200);
    expect(imported.body.created).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'queue', name: 'by-hand' })]),
    );
    // What is declared already (legacy, landing) is not adopted twice.
    expect(
      (imported.body.created as { name: string }[]).filter((c) => c.name === 'legacy'),
    ).toEqual([]);
    const byHand = await t.http
      .get('/queues')
      .query({ clusterId: dc2.clusterId, name: 'by-hand' })
      .set(admin())
      .expect(200);
    expect(byHand.body.items[0]).toMatchObject({
      type: 'classic',
      arguments: { 'x-message-ttl': 60000 },
      deletionPolicy: 'retain',
    });
    const exported = await t.http
      .get(`/clusters/${dc2.clusterId}/definitions`)
      .set(admin())
      .expect(200);
    expect(exported.body.queues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ vhost, name: 'by-hand', arguments: { 'x-message-ttl': 60000 } }),
        expect.objectContaining({ vhost, name: 'legacy', arguments: { 'x-max-length': 10 } }),
      ]),
    );

    // An identical queue already there is adopted, not reported.
    await m2.request('PUT', `/api/queues/${enc(vhost)}/same`, { durable: true, arguments: {} });
    const same = await t.http
      .post('/queues')
      .set(admin())
      .send({ clusterId: dc2.clusterId, vhost, name: 'same' })
      .expect(201);
    await eventually(
      async () =>
        (await t.http.get(`/queues/${same.body.id as string}`).set(admin())).body.status ===
        'present',
      { timeoutMs: 15000, description: 'identical queue adopted' },
    );
  });

  it('deleting a queue: retain (the default) leaves it; delete needs confirmation when it holds messages', async () => {
    const kept = await t.http
      .post('/queues')
      .set(admin())
      .send({ clusterId: dc2.clusterId, vhost, name: 'kept' })
      .expect(201);
    const problem = /application\/problem\+json/;
    const dup = await t.http
      .post('/queues')
      .set(admin())
      .send({ clusterId: dc2.clusterId, vhost, name: 'kept' })
      .expect(409);
    expect(dup.headers['content-type']).toMatch(problem);
    for (const bad of [
      { name: 'q1', type: 'quorum', durable: false },
      { name: 'q2', arguments: { 'x-queue-type': 'stream' } },
      { name: 'amq.q3' },
      { name: 'q4', arguments: { big: 'x'.repeat(2000) } },
    ]) {
      const r = await t.http
        .post('/queues')
        .set(admin())
        .send({ clusterId: dc2.clusterId, vhost, ...bad })
        .expect(400);
      expect(r.headers['content-type']).toMatch(problem);
    }
    await t.http
      .post('/queues')
      .set(admin())
      .send({ clusterId: dc2.clusterId, vhost: 'not-managed', name: 'q5' })
      .expect(400);
    const doomed = await t.http
      .post('/queues')
      .set(admin())
      .send({ clusterId: dc2.clusterId, vhost, name: 'doomed', deletionPolicy: 'delete' })
      .expect(201);
    for (const r of [kept, doomed])
      await eventually(
        async () =>
          (await t.http.get(`/queues/${r.body.id as string}`).set(admin())).body.status ===
          'present',
        { timeoutMs: 15000, description: 'queues present' },
      );
    for (const name of ['kept', 'doomed'])
      for (let i = 0; i < 3; i++) await publish(m2, 'amq.default', name, `${name}${i}`);
    await eventually(async () => (await queueOn(m2, 'doomed'))?.messages === 3, {
      timeoutMs: 10000,
      description: 'doomed holds 3 messages',
    });

    await t.http
      .delete(`/queues/${kept.body.id as string}`)
      .set(admin())
      .expect(204);
    const refused = await t.http
      .delete(`/queues/${doomed.body.id as string}`)
      .set(admin())
      .expect(409);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused.body.code ?? refused.body.type).toMatch(/confirmation-required/);
    expect(refused.body.detail).toContain('holds 3 messages');
    await t.http
      .delete(`/queues/${doomed.body.id as string}?confirm=delete-messages`)
      .set(admin())
      .expect(204);
    await eventually(async () => (await queueOn(m2, 'doomed')) === null, {
      timeoutMs: 15000,
      description: 'doomed deleted by a pass',
    });
    await reconcile(dc2.clusterId);
    const k = await queueOn(m2, 'kept');
    expect(k).not.toBeNull();
  });
});
