import { bearer, bootstrapToken, clusterBody, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';

const admin = () => bearer(bootstrapToken());
const noSuchId = '00000000-0000-4000-8000-000000000000';

/**
 * One error per wrongly typed field; one rule for references in a request body to something that
 * does not exist (409 reference-not-found, naming the field); messages that say which cause applied.
 */
describe('consistent validation errors', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const newSite = async () =>
    (
      await t.http
        .post('/sites')
        .set(admin())
        .send({ name: uniqueName('ve'), region: 'r' })
    ).body as { id: string; name: string };

  it('gives a wrongly typed field exactly one error', async () => {
    const res = await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('ve'), region: 'r', expectedRttMs: 'thirty' })
      .expect(400);
    expect(res.body.errors).toEqual([
      { field: 'expectedRttMs', message: 'expectedRttMs must be an integer number' },
    ]);
  });

  it('gives a wrongly typed nested field exactly one error', async () => {
    const site = await newSite();
    const body = clusterBody(site.id);
    body.nodes[0] = { ...body.nodes[0], amqpPort: 'five' as unknown as number };
    const res = await t.http.post('/clusters').set(admin()).send(body).expect(400);
    expect(res.body.errors).toEqual([
      { field: 'nodes.0.amqpPort', message: 'amqpPort must be an integer number' },
    ]);
  });

  it('answers an unknown siteId with 409 reference-not-found that says the site is missing', async () => {
    const res = await t.http.post('/clusters').set(admin()).send(clusterBody(noSuchId)).expect(409);
    expect(res.body).toMatchObject({
      code: 'reference-not-found',
      detail: 'The site does not exist',
      errors: [{ field: 'siteId', message: 'The site does not exist' }],
    });
    expect(res.body.detail).not.toMatch(/still has/);
  });

  it('says a site still has clusters when that is why it cannot go', async () => {
    const site = await newSite();
    await t.http.post('/clusters').set(admin()).send(clusterBody(site.id)).expect(201);
    const res = await t.http.delete(`/sites/${site.id}`).set(admin()).expect(409);
    expect(res.body.code).toBe('dependents-exist');
    expect(res.body.detail).toMatch(/still has 1 cluster/);
    expect(res.body.detail).not.toMatch(/does not exist/);
  });

  it('answers an unknown cluster in a link with the same 409 as every other reference', async () => {
    const site = await newSite();
    const c = await t.http.post('/clusters').set(admin()).send(clusterBody(site.id)).expect(201);
    const fed = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: uniqueName('ve'),
        kind: 'exchange',
        upstream: { clusterId: noSuchId, vhost: '/' },
        downstream: { clusterId: c.body.id, vhost: '/' },
        targets: ['orders'],
      })
      .expect(409);
    expect(fed.body).toMatchObject({
      code: 'reference-not-found',
      errors: [{ field: 'upstream.clusterId', message: 'no such cluster' }],
    });
    const shovel = await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: uniqueName('ve'),
        source: { clusterId: c.body.id, vhost: '/', queue: 'a' },
        destination: { clusterId: noSuchId, vhost: '/', queue: 'b' },
      })
      .expect(409);
    expect(shovel.body.errors).toEqual([
      { field: 'destination.clusterId', message: 'no such cluster' },
    ]);
    const policy = await t.http
      .post('/policies')
      .set(admin())
      .send({
        name: uniqueName('ve'),
        scope: 'cluster',
        clusterId: noSuchId,
        vhost: '/',
        pattern: '^x$',
        applyTo: 'queues',
        definition: { 'max-length': 10 },
      });
    expect(policy.status).toBe(409);
    expect(policy.body.code).toBe('reference-not-found');
    const reconcile = await t.http
      .post('/reconcile')
      .set(admin())
      .send({ clusterId: noSuchId, dryRun: true })
      .expect(409);
    expect(reconcile.body.errors).toEqual([{ field: 'clusterId', message: 'no such cluster' }]);
    const bySite = await t.http
      .post('/reconcile')
      .set(admin())
      .send({ siteId: noSuchId, dryRun: true })
      .expect(409);
    expect(bySite.body.errors).toEqual([{ field: 'siteId', message: 'no such site' }]);
  });

  it('keeps 404 for a resource named in the URL', async () => {
    const res = await t.http.get(`/clusters/${noSuchId}`).set(admin()).expect(404);
    expect(res.body.code).toBe('not-found');
  });
});
