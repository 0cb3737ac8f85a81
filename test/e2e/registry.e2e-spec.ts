import type { Role } from '../../src/common/actor/actor';
import { bearer, bootstrapToken, clusterBody, tokensByRole, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';

const problemJson = /^application\/problem\+json/;

describe('topology registry', () => {
  let t: TestApp;
  let tok: Record<Role, string>;
  const admin = () => bearer(tok.admin);

  beforeAll(async () => {
    t = await createTestApp();
    tok = await tokensByRole(t.http, 'registry');
  });
  afterAll(() => t.close());

  async function newSite(extra: Record<string, unknown> = {}) {
    const res = await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('s'), region: 'eu-west', ...extra });
    if (res.status !== 201) throw new Error(`site create: ${res.status} ${res.text}`);
    return res.body;
  }

  describe('sites', () => {
    it('creates, reads with an ETag, updates with If-Match and deletes', async () => {
      const site = await newSite({
        loadBalancer: { host: 'lb.dc1.example', port: 5672 },
        expectedRttMs: 40,
      });
      expect(site).toMatchObject({
        region: 'eu-west',
        loadBalancer: { host: 'lb.dc1.example', port: 5672 },
        expectedRttMs: 40,
        version: 1,
      });
      const read = await t.http.get(`/sites/${site.id}`).set(bearer(tok.viewer)).expect(200);
      expect(read.headers.etag).toBe('"v1"');

      const stale = await t.http
        .patch(`/sites/${site.id}`)
        .set(admin())
        .set('If-Match', '"v7"')
        .send({ region: 'x' })
        .expect(412);
      expect(stale.headers['content-type']).toMatch(problemJson);
      expect(stale.body.code).toBe('precondition-failed');

      const ok = await t.http
        .patch(`/sites/${site.id}`)
        .set(admin())
        .set('If-Match', '"v1"')
        .send({ region: 'us-east', loadBalancer: null })
        .expect(200);
      expect(ok.body).toMatchObject({ region: 'us-east', loadBalancer: null, version: 2 });
      expect(ok.headers.etag).toBe('"v2"');
      // The same old ETag cannot win twice.
      await t.http
        .patch(`/sites/${site.id}`)
        .set(admin())
        .set('If-Match', '"v1"')
        .send({ region: 'again' })
        .expect(412);

      await t.http.delete(`/sites/${site.id}`).set(admin()).set('If-Match', '"v1"').expect(412);
      await t.http.delete(`/sites/${site.id}`).set(admin()).set('If-Match', '"v2"').expect(204);
      const gone = await t.http.get(`/sites/${site.id}`).set(admin()).expect(404);
      expect(gone.body.code).toBe('not-found');
    });

    it('rejects a duplicate name with 409 from the database', async () => {
      const site = await newSite();
      const res = await t.http
        .post('/sites')
        .set(admin())
        .send({ name: site.name, region: 'r' })
        .expect(409);
      expect(res.body).toMatchObject({
        code: 'duplicate-name',
        detail: 'A site with this name already exists',
      });
    });

    it('validates bodies loudly, naming the offending fields', async () => {
      const res = await t.http
        .post('/sites')
        .set(admin())
        .send({
          name: 'Not_A_Label',
          region: 'r',
          colour: 'blue',
          loadBalancer: { host: 'x', port: 70000 },
        })
        .expect(400);
      expect(res.headers['content-type']).toMatch(problemJson);
      const fields = res.body.errors.map((e: { field: string }) => e.field);
      expect(fields).toEqual(expect.arrayContaining(['name', 'colour', 'loadBalancer.port']));
    });

    it('pages with an opaque cursor and rejects forged cursors', async () => {
      for (let i = 0; i < 5; i++) await newSite();
      const seen = new Set<string>();
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { body: { items: { id: string }[]; nextCursor: string | null } } = await t.http
          .get('/sites')
          .query(cursor ? { limit: 2, cursor } : { limit: 2 })
          .set(bearer(tok.viewer))
          .expect(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        for (const s of res.body.items) {
          expect(seen.has(s.id)).toBe(false);
          seen.add(s.id);
        }
        cursor = res.body.nextCursor;
        pages += 1;
      } while (cursor && pages < 100);
      expect(seen.size).toBeGreaterThanOrEqual(5);
      await t.http.get('/sites').query({ cursor: 'bm90LWEtY3Vyc29y' }).set(admin()).expect(400);
      await t.http.get('/sites').query({ limit: 0 }).set(admin()).expect(400);
      await t.http.get('/sites').query({ limit: 'abc' }).set(admin()).expect(400);
    });

    it('refuses to delete a site that still has clusters, naming them', async () => {
      const site = await newSite();
      const cluster = await t.http
        .post('/clusters')
        .set(admin())
        .send(clusterBody(site.id))
        .expect(201);
      const res = await t.http.delete(`/sites/${site.id}`).set(admin()).expect(409);
      expect(res.body.code).toBe('dependents-exist');
      expect(res.body.dependents).toEqual([
        { type: 'cluster', id: cluster.body.id, name: cluster.body.name },
      ]);
    });
  });

  describe('clusters and nodes', () => {
    it('stores credentials write-only and never returns them', async () => {
      const site = await newSite();
      const body = clusterBody(site.id, {
        replication: [
          {
            pattern: '^orders\\.',
            mode: 'classic',
            haMode: 'exactly',
            haParams: 2,
            haSyncMode: 'automatic',
          },
        ],
      });
      const created = await t.http.post('/clusters').set(admin()).send(body).expect(201);
      expect(created.text).not.toContain('Sup3r-S3cret-Pa55');
      expect(created.body).not.toHaveProperty('credentials');
      expect(created.body).toMatchObject({
        adminUsername: 'admin-user',
        credentialsVersion: 1,
        nodes: [{ type: 'disc' }, { type: 'ram' }],
      });
      expect(created.body.warnings[0]).toMatch(/removed in RabbitMQ 4\.0/);

      const changed = await t.http
        .put(`/clusters/${created.body.id}/credentials`)
        .set(admin())
        .send({ username: 'other', password: 'An0ther-S3cret' })
        .expect(200);
      expect(changed.text).not.toContain('An0ther-S3cret');
      expect(changed.body).toMatchObject({
        adminUsername: 'other',
        credentialsVersion: 2,
        version: 2,
      });
      const list = await t.http
        .get('/clusters')
        .query({ siteId: site.id })
        .set(bearer(tok.viewer))
        .expect(200);
      expect(list.body.items).toHaveLength(1);
      expect(list.text).not.toMatch(/S3cret|password/i);
    });

    it('keeps broker cluster names unique across sites and site references valid', async () => {
      const a = await newSite();
      const b = await newSite();
      const first = await t.http.post('/clusters').set(admin()).send(clusterBody(a.id)).expect(201);
      const dup = await t.http
        .post('/clusters')
        .set(admin())
        .send(clusterBody(b.id, { brokerClusterName: first.body.brokerClusterName }))
        .expect(409);
      expect(dup.body.detail).toMatch(/broker cluster name/);
      const missing = await t.http
        .post('/clusters')
        .set(admin())
        .send(clusterBody('00000000-0000-4000-8000-000000000000'))
        .expect(409);
      expect(missing.body.code).toBe('reference-not-found');
    });

    it('validates replication rules against the declared nodes', async () => {
      const site = await newSite();
      const res = await t.http
        .post('/clusters')
        .set(admin())
        .send(
          clusterBody(site.id, {
            replication: [
              { pattern: '^a', mode: 'classic', haMode: 'nodes', haParams: ['rabbit@elsewhere'] },
              { pattern: '^b', mode: 'quorum', replicas: 5 },
              { pattern: '(?<=x)', mode: 'quorum', replicas: 1 },
            ],
          }),
        )
        .expect(400);
      const fields = res.body.errors.map((e: { field: string }) => e.field);
      expect(fields).toEqual([
        'replication.0.haParams',
        'replication.1.replicas',
        'replication.2.pattern',
      ]);
    });

    it('keeps at least one disc node and at least one node', async () => {
      const site = await newSite();
      const allRam = clusterBody(site.id);
      allRam.nodes = allRam.nodes.map((n) => ({ ...n, type: 'ram' }));
      const rejected = await t.http.post('/clusters').set(admin()).send(allRam).expect(400);
      expect(rejected.body.errors).toEqual([
        { field: 'nodes', message: 'a cluster needs at least one disc node' },
      ]);
      const c = (await t.http.post('/clusters').set(admin()).send(clusterBody(site.id)).expect(201))
        .body;
      const [disc, ram] = c.nodes;
      const demote = await t.http
        .patch(`/clusters/${c.id}/nodes/${disc.id}`)
        .set(admin())
        .send({ type: 'ram' })
        .expect(409);
      expect(demote.body.detail).toMatch(/disc node/);
      await t.http.delete(`/clusters/${c.id}/nodes/${disc.id}`).set(admin()).expect(409);
      await t.http.delete(`/clusters/${c.id}/nodes/${ram.id}`).set(admin()).expect(204);
      await t.http.delete(`/clusters/${c.id}/nodes/${disc.id}`).set(admin()).expect(409);
      const added = await t.http
        .post(`/clusters/${c.id}/nodes`)
        .set(admin())
        .send({ name: 'rabbit@extra', host: '10.0.0.9', amqpPort: 5672, managementPort: 15672 })
        .expect(201);
      expect(added.body.type).toBe('disc');
      const after = await t.http.get(`/clusters/${c.id}`).set(admin()).expect(200);
      expect(after.body.nodes).toHaveLength(2);
      expect(after.body.version).toBeGreaterThan(c.version);
      await t.http
        .post(`/clusters/${c.id}/nodes`)
        .set(admin())
        .send({ name: 'rabbit@extra', host: 'h', amqpPort: 1, managementPort: 2 })
        .expect(409);
    });
  });

  describe('tokens', () => {
    it('shows a secret once, stores only its hash, and revocation stops it', async () => {
      const created = await t.http
        .post('/tokens')
        .set(admin())
        .send({ name: uniqueName('tk'), role: 'viewer' })
        .expect(201);
      expect(created.body.token).toMatch(/^cdk_[0-9a-f]{8}_/);
      const read = await t.http.get(`/tokens/${created.body.id}`).set(admin()).expect(200);
      expect(read.body.token).toBeUndefined();
      expect(read.text).not.toContain(created.body.token);
      await t.http.get('/sites').set(bearer(created.body.token)).expect(200);
      await t.http.delete(`/tokens/${created.body.id}`).set(admin()).expect(200);
      const denied = await t.http.get('/sites').set(bearer(created.body.token)).expect(401);
      expect(denied.headers['content-type']).toMatch(problemJson);
    });

    it('rejects missing, malformed and unknown tokens with 401', async () => {
      await t.http.get('/sites').expect(401);
      await t.http.get('/sites').set('Authorization', 'Basic abc').expect(401);
      await t.http.get('/sites').set(bearer('cdk_00000000_nope')).expect(401);
      await t.http.get('/sites').set(bearer(bootstrapToken())).expect(200);
    });
  });
});
