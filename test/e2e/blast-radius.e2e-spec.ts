import { bearer, bootstrapToken, clusterBody, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { createMigratedDatabase, dropDatabase, withClient } from '../helpers/postgres';

/**
 * A policy whose destructive keys would reach every queue of a vhost on several clusters needs
 * `confirm`, like a mass delete needs `confirmDeletes`; the refusal and the answer say how many
 * queues it reaches.
 */
describe('blast-radius guard on policies', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let siteId: string;
  const clusterIds: string[] = [];
  const admin = () => bearer(bootstrapToken());

  beforeAll(async () => {
    db = await createMigratedDatabase('crossdock_blast');
    t = await createTestApp({ DATABASE_URL: db.url });
    const site = await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('blast'), region: 'r' })
      .expect(201);
    siteId = site.body.id;
    for (let i = 0; i < 3; i++) {
      const c = await t.http.post('/clusters').set(admin()).send(clusterBody(siteId));
      expect(c.status).toBe(201);
      clusterIds.push(c.body.id);
    }
    // What the clusters' last reconcile passes observed: 4 + 2 queues in "/", one never observed.
    const known = (queues: string[]) =>
      JSON.stringify({ hash: 'x', known: { '/': { queues, exchanges: [] } } });
    await withClient(db.url, async (c) => {
      await c.query(`UPDATE clusters SET observed_objects = $2 WHERE id = $1`, [
        clusterIds[0],
        known(['a', 'b', 'orders.eu', 'orders.us']),
      ]);
      await c.query(`UPDATE clusters SET observed_objects = $2 WHERE id = $1`, [
        clusterIds[1],
        known(['a', 'b']),
      ]);
    });
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
  });

  const policy = (extra: Record<string, unknown>) => ({
    name: uniqueName('p'),
    scope: 'site',
    siteId,
    vhost: '/',
    pattern: '.*',
    applyTo: 'queues',
    definition: { 'message-ttl': 0 },
    ...extra,
  });
  const count = async (name: string) =>
    withClient(db.url, async (c) =>
      Number(
        (await c.query(`SELECT count(*) AS n FROM policies WHERE name = $1`, [name])).rows[0].n,
      ),
    );

  it.each([
    ['.*', { 'message-ttl': 0 }, 'message-ttl=0'],
    ['^', { 'max-length': 0 }, 'max-length=0'],
    ['.', { 'max-length-bytes': 0 }, 'max-length-bytes=0'],
    ['^.*$', { expires: 1000 }, 'expires=1000'],
    ['.+', { 'max-length': 10, overflow: 'reject-publish' }, 'overflow=reject-publish'],
    ['.*', { 'max-length': 10, overflow: 'reject-publish-dlx' }, 'overflow=reject-publish-dlx'],
  ])(
    'refuses pattern %j with %j on three clusters without confirm, naming the reach',
    async (pattern, definition, key) => {
      const body = policy({ pattern, definition });
      const res = await t.http.post('/policies').set(admin()).send(body);
      expect(res.status).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.code).toBe('confirmation-required');
      expect(res.body.detail).toContain(key);
      expect(res.body.detail).toContain('3 clusters');
      expect(res.body.detail).toContain('"confirm": true');
      expect(res.body.blastRadius).toMatchObject({
        vhost: '/',
        keys: [key],
        objects: 6,
        unobservedClusters: 1,
      });
      expect(res.body.blastRadius.clusters).toHaveLength(3);
      expect(await count(body.name)).toBe(0);
    },
  );

  it('accepts the same policy with confirm, and says in the answer what it reaches', async () => {
    const body = policy({ confirm: true });
    const res = await t.http.post('/policies').set(admin()).send(body).expect(201);
    expect(res.body.warnings.join(' ')).toMatch(
      /confirmed: .*message-ttl=0 on every queue of vhost "\/" on 3 clusters \(6 queue\(s\) observed, 1 cluster\(s\) never observed\)/,
    );
    expect(await count(body.name)).toBe(1);
    const audit = await t.http.get(`/audit?resourceId=${res.body.id}`).set(admin()).expect(200);
    expect(JSON.stringify(audit.body)).toContain('confirmed:');
  });

  it('needs no confirm for one cluster, a narrower pattern or harmless keys', async () => {
    await t.http
      .post('/policies')
      .set(admin())
      .send(policy({ scope: 'cluster', siteId: undefined, clusterId: clusterIds[0] }))
      .expect(201);
    await t.http
      .post('/policies')
      .set(admin())
      .send(policy({ pattern: '^orders\\.', definition: { 'message-ttl': 0 } }))
      .expect(201);
    await t.http
      .post('/policies')
      .set(admin())
      .send(policy({ priority: 9, definition: { 'message-ttl': 60000, 'max-length': 100000 } }))
      .expect(201);
  });

  it('guards a PATCH that makes a policy destructive everywhere, not one that keeps it so', async () => {
    const created = await t.http
      .post('/policies')
      .set(admin())
      .send(policy({ pattern: '^tmp\\.', definition: { 'max-length': 0 } }))
      .expect(201);
    const id = created.body.id as string;
    const widened = await t.http.patch(`/policies/${id}`).set(admin()).send({ pattern: '.*' });
    expect(widened.status).toBe(409);
    expect(widened.body).toMatchObject({ code: 'confirmation-required' });
    expect(widened.body.blastRadius.keys).toEqual(['max-length=0']);
    const unchanged = await t.http.get(`/policies/${id}`).set(admin()).expect(200);
    expect(unchanged.body.pattern).toBe('^tmp\\.');
    await t.http
      .patch(`/policies/${id}`)
      .set(admin())
      .send({ pattern: '.*', confirm: true })
      .expect(200);
    // Already destructive everywhere with the same keys: a priority change needs no new confirm.
    await t.http.patch(`/policies/${id}`).set(admin()).send({ priority: 5 }).expect(200);
    // A new destructive key does.
    const more = await t.http
      .patch(`/policies/${id}`)
      .set(admin())
      .send({ definition: { 'max-length': 0, 'message-ttl': 0 } });
    expect(more.status).toBe(409);
  });
});
