import type { AddressInfo } from 'node:net';
import { clustersFromSitesState, crossdockClient, mainFlow } from '../../examples/client/main-flow';
import { bootstrapToken, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { sitesStatePath } from '../helpers/sites';

/** The generated client's sample (examples/client/main-flow.ts) against the real HTTP stack. */
describe('typed client: main flow', () => {
  let t: TestApp;
  let baseUrl: string;
  let db: { name: string; url: string } | undefined;

  // A registry of its own: the shared one already holds the local sites' broker cluster names,
  // which must be unique.
  beforeAll(async () => {
    db = await createMigratedDatabase('crossdock_client');
    t = await createTestApp({ DATABASE_URL: db.url });
    await t.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
  });

  it('creates sites, clusters and a link, reads status, health and the audit log', async () => {
    const client = crossdockClient(baseUrl, bootstrapToken());
    const r = await mainFlow(client, clustersFromSitesState(sitesStatePath()), {
      suffix: uniqueName('cf'),
    });
    expect(r.clusters.map((c) => c.siteId)).toEqual(r.sites.map((s) => s.id));
    expect(r.link.upstream.clusterId).toBe(r.clusters[0].id);
    expect(r.status).toMatchObject({ id: r.link.id, verdict: expect.any(String) });
    expect(r.health).toMatchObject({ linkId: r.link.id, kind: 'federation' });
    expect(r.audit.map((e) => e.action)).toContain('federation-link.create');
  });

  it('reads problem+json errors as typed data', async () => {
    const client = crossdockClient(baseUrl, 'not-a-token');
    const res = await client.GET('/sites');
    expect(res.response.status).toBe(401);
    expect(res.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.error).toMatchObject({ status: 401, code: 'unauthenticated' });
  });
});
