import { bearer, bootstrapToken, clusterBody, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';

const admin = () => bearer(bootstrapToken());

/** `?name=` on every named list and `?site=` (id or name) on clusters: one call, not a crawl. */
describe('list filters', () => {
  let t: TestApp;
  const ids = {} as Record<'site1' | 'site2' | 'c1' | 'c2' | 'link' | 'shovel', string>;
  const names = {} as Record<'site1' | 'site2' | 'link' | 'shovel' | 'policy' | 'rule', string>;

  beforeAll(async () => {
    t = await createTestApp();
    for (const k of ['site1', 'site2'] as const) {
      names[k] = uniqueName('flt');
      ids[k] = (
        await t.http.post('/sites').set(admin()).send({ name: names[k], region: 'r' }).expect(201)
      ).body.id;
    }
    // Both sites get a cluster named `main`: a name alone does not pick one cluster.
    ids.c1 = (
      await t.http
        .post('/clusters')
        .set(admin())
        .send(clusterBody(ids.site1, { name: 'main' }))
        .expect(201)
    ).body.id;
    ids.c2 = (
      await t.http
        .post('/clusters')
        .set(admin())
        .send(clusterBody(ids.site2, { name: 'main' }))
        .expect(201)
    ).body.id;
    names.link = uniqueName('fed');
    ids.link = (
      await t.http
        .post('/links/federation')
        .set(admin())
        .send({
          name: names.link,
          kind: 'exchange',
          upstream: { clusterId: ids.c1, vhost: '/' },
          downstream: { clusterId: ids.c2, vhost: '/' },
          targets: ['orders'],
        })
        .expect(201)
    ).body.id;
    names.shovel = uniqueName('shv');
    ids.shovel = (
      await t.http
        .post('/links/shovels')
        .set(admin())
        .send({
          name: names.shovel,
          source: { clusterId: ids.c2, vhost: '/', queue: 'outbox' },
          destination: { clusterId: ids.c1, vhost: '/', queue: 'inbox' },
        })
        .expect(201)
    ).body.id;
    names.policy = uniqueName('pol');
    await t.http
      .post('/policies')
      .set(admin())
      .send({
        name: names.policy,
        scope: 'cluster',
        clusterId: ids.c1,
        vhost: '/',
        pattern: `^${names.policy}$`,
        applyTo: 'queues',
        definition: { 'max-length': 10 },
      })
      .expect(201);
    names.rule = uniqueName('ovf');
    await t.http
      .post('/overflow-rules')
      .set(admin())
      .send({
        name: names.rule,
        source: { clusterId: ids.c1, vhost: '/', queue: 'busy' },
        remote: { clusterId: ids.c2, vhost: '/', queue: 'spill' },
        highWatermark: 1000,
        lowWatermark: 100,
      })
      .expect(201);
  });
  afterAll(() => t.close());

  const list = async (path: string, query: Record<string, string>) =>
    (await t.http.get(path).query(query).set(admin()).expect(200)).body as {
      items: { id: string; name: string; siteId?: string }[];
      nextCursor: string | null;
    };

  it.each([
    ['/sites', 'site1'],
    ['/links/federation', 'link'],
    ['/links/shovels', 'shovel'],
    ['/policies', 'policy'],
    ['/overflow-rules', 'rule'],
  ] as const)('%s?name= returns exactly the named resource', async (path, key) => {
    const page = await list(path, { name: names[key] });
    expect(page.items.map((i) => i.name)).toEqual([names[key]]);
    expect(page.nextCursor).toBeNull();
    expect((await list(path, { name: `${names[key]}-nope` })).items).toEqual([]);
  });

  it('finds a cluster by site name and cluster name in one call', async () => {
    const page = await list('/clusters', { site: names.site2, name: 'main' });
    expect(page.items.map((c) => c.id)).toEqual([ids.c2]);
  });

  it('accepts a site id in ?site= as well as a name', async () => {
    const page = await list('/clusters', { site: ids.site1 });
    expect(page.items.map((c) => c.id)).toEqual([ids.c1]);
  });

  it('answers an unknown site in a filter with an empty list', async () => {
    expect((await list('/clusters', { site: 'no-such-site' })).items).toEqual([]);
  });

  it('combines ?name= with pagination', async () => {
    const page = await list('/clusters', { name: 'main', limit: '200' });
    const mine = page.items.filter((c) => c.id === ids.c1 || c.id === ids.c2);
    expect(mine).toHaveLength(2);
  });

  it('rejects a repeated or oversized filter with a 400 naming the field', async () => {
    const repeated = await t.http.get('/sites?name=a&name=b').set(admin()).expect(400);
    expect(repeated.body.errors).toEqual([{ field: 'name', message: 'name must be a string' }]);
    const long = await t.http
      .get('/clusters')
      .query({ site: 'x'.repeat(300) })
      .set(admin())
      .expect(400);
    expect(long.body.errors.map((e: { field: string }) => e.field)).toEqual(['site']);
  });
});
