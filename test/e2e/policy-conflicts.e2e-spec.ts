import { randomBytes } from 'node:crypto';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import { createSharedVhost, loadSites, site, type TestManagement } from '../helpers/sites';

const enc = encodeURIComponent;

interface Conflict {
  clusterId: string;
  vhost: string;
  key: string;
  priority: number;
  objects: string[];
  sources: { kind: string; id: string | null; name: string; value: unknown }[];
}

/**
 * Conflicting policies are refused when they are written, not found later in a run: the
 * affected clusters are compiled with the new row; overlaps are decided on the names a pass
 * last observed (real brokers), or on the names the registry itself gives before that.
 */
describe('policy conflicts answered 409 at write time', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `conf-${randomBytes(3).toString('hex')}`;
  const fresh = `conf2-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const policy = (name: string, pattern: string, definition: object, extra: object = {}) =>
    t.http
      .post('/policies')
      .set(admin())
      .send({
        name,
        scope: 'cluster',
        clusterId: dc1.clusterId,
        vhost,
        pattern,
        applyTo: 'queues',
        definition,
        ...extra,
      });
  const expectConflict = (
    res: { status: number; headers: Record<string, string>; body: Record<string, unknown> },
    names: string[],
  ) => {
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 409, code: 'policy-conflict' });
    const [c] = res.body.conflicts as Conflict[];
    for (const n of names) {
      expect(c.sources.some((s) => s.name.startsWith(n))).toBe(true);
      expect(res.body.detail).toContain(n);
    }
    return c;
  };

  beforeAll(async () => {
    const state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    await createSharedVhost(state, ['dc1', 'dc2'], fresh);
    db = await createMigratedDatabase('crossdock_conflicts');
    t = await createTestApp({ DATABASE_URL: db.url });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost, fresh]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost, fresh]);
    for (const q of ['orders.eu', 'orders.us', 'billing.eu'])
      await m1.request('PUT', `/api/queues/${enc(vhost)}/${q}`, { durable: true });
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) for (const v of [vhost, fresh]) await m?.deleteVhost(v);
  });

  it('refuses a policy that overlaps another on an observed queue with another value at one priority', async () => {
    // Before any pass the patterns' overlap is unknown (no names): both are accepted.
    await policy('orders-cap', '^orders\\.', { 'max-length': 100 }).expect(201);
    // A pass observes the cluster and keeps the names it saw.
    const run = await t.http.post('/reconcile').set(admin()).send({ clusterId: dc1.clusterId });
    expect(run.body.runs[0].status).toBe('succeeded');

    const refused = await policy('us-cap', '\\.us$', { 'max-length': 300 });
    const c = expectConflict(refused, ['policy "orders-cap"', 'policy "us-cap"']);
    expect(c).toMatchObject({
      clusterId: dc1.clusterId,
      vhost,
      key: 'max-length',
      priority: 0,
      objects: ['orders.us'],
    });
    expect(c.sources.map((s) => s.value).sort()).toEqual([100, 300]);
    // Rolled back: no row, no audit event.
    const list = await t.http.get('/policies').query({ clusterId: dc1.clusterId }).set(admin());
    expect(list.body.items.map((p: { name: string }) => p.name)).toEqual(['orders-cap']);
    const audit = await t.http
      .get('/audit')
      .query({ action: 'policy.create', limit: 50 })
      .set(admin())
      .expect(200);
    expect(
      audit.body.items.map((e: { resource: { name: string } }) => e.resource.name),
    ).not.toContain('us-cap');

    // No overlap on what exists (billing.eu is matched by one pattern only), a higher priority,
    // or the same value: accepted.
    await policy('eu-only', '^billing', { 'max-length': 7 }).expect(201);
    await policy('us-cap', '\\.us$', { 'max-length': 300 }, { priority: 1 }).expect(201);
    await policy('us-same', '\\.us$', { 'max-length': 100 }).expect(201);
  });

  it('refuses a PATCH that creates a conflict, naming both policies', async () => {
    const created = await policy('eu-ttl', '\\.eu$', { 'message-ttl': 1000 }).expect(201);
    const other = await policy('orders-ttl', '^orders', { 'message-ttl': 1000 }).expect(201);
    const res = await t.http
      .patch(`/policies/${other.body.id}`)
      .set(admin())
      .send({ definition: { 'message-ttl': 5000 } });
    const c = expectConflict(res, ['policy "eu-ttl"', 'policy "orders-ttl"']);
    expect(c.objects).toEqual(['orders.eu']);
    const kept = await t.http.get(`/policies/${other.body.id}`).set(admin()).expect(200);
    expect(kept.body.definition).toEqual({ 'message-ttl': 1000 });
    expect(created.body.id).toBeDefined();
  });

  it('refuses classic replication rules whose ha-* keys conflict with a policy', async () => {
    await policy('orders-ha', '^orders\\.eu$', { 'ha-mode': 'exactly', 'ha-params': 2 }).expect(
      201,
    );
    const res = await t.http
      .patch(`/clusters/${dc1.clusterId}`)
      .set(admin())
      .send({ replication: [{ pattern: '^orders', mode: 'classic', haMode: 'all' }] });
    expectConflict(res, ['policy "orders-ha"', 'the replication rule "^orders"']);
    const cluster = await t.http.get(`/clusters/${dc1.clusterId}`).set(admin()).expect(200);
    expect(cluster.body.replication).toEqual([]);
  });

  it('decides overlaps on the names the registry gives when nothing was observed there', async () => {
    // `fresh` holds no queue yet: the queue-federation link's target is the only name known.
    await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'jobs',
        kind: 'queue',
        downstream: { clusterId: dc1.clusterId, vhost: fresh },
        upstream: { clusterId: dc2.clusterId, vhost: fresh },
        targets: ['jobs.eu'],
      })
      .expect(201);
    const base = { scope: 'cluster', clusterId: dc1.clusterId, vhost: fresh, applyTo: 'queues' };
    await t.http
      .post('/policies')
      .set(admin())
      .send({ ...base, name: 'jobs-cap', pattern: '^jobs', definition: { 'max-length': 10 } })
      .expect(201);
    const res = await t.http
      .post('/policies')
      .set(admin())
      .send({ ...base, name: 'eu-cap', pattern: 'eu$', definition: { 'max-length': 20 } });
    const c = expectConflict(res, ['policy "jobs-cap"', 'policy "eu-cap"']);
    expect(c).toMatchObject({ vhost: fresh, objects: ['jobs.eu'] });
  });
});
