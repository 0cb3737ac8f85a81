import { bearer, bootstrapToken, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { freePort } from '../helpers/ports';
import { registerLocalSite } from '../helpers/registry';
import { loadSites, site } from '../helpers/sites';

describe('observed cluster state through the API (real brokers)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  const admin = () => bearer(bootstrapToken());

  beforeAll(async () => {
    db = await createMigratedDatabase('crossdock_obs');
    t = await createTestApp({ DATABASE_URL: db.url, BROKER_HTTP_TIMEOUT_MS: '1500' });
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
  });

  it('observes a healthy cluster: nodes running, versions, cluster name, plugins, no differences; stores it', async () => {
    const state = loadSites();
    const reg = await registerLocalSite(t.http, state, site(state, 'dc1'), ['/']);
    const res = await t.http
      .post(`/clusters/${reg.clusterId}/observation`)
      .set(admin())
      .expect(200);
    expect(res.body).toMatchObject({
      reachable: true,
      clusterName: site(state, 'dc1').clusterName,
      pluginsMissing: [],
      differences: [],
    });
    expect(res.body.rabbitmqVersion).toMatch(/^3\.10\./);
    expect(res.body.nodes.every((n: { running: boolean }) => n.running)).toBe(true);
    expect(res.text).not.toContain(state.admin.password);
    const stored = await t.http
      .get(`/clusters/${reg.clusterId}/observation`)
      .set(admin())
      .expect(200);
    expect(stored.body.observedAt).toBe(res.body.observedAt);
    const cluster = await t.http.get(`/clusters/${reg.clusterId}`).set(admin()).expect(200);
    expect(cluster.body.brokerVersion).toMatch(/^3\.10\./);
  });

  it('answers clearly, and quickly, for an unreachable cluster', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const s = await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('gone'), region: 'x' })
      .expect(201);
    const c = await t.http
      .post('/clusters')
      .set(admin())
      .send({
        siteId: s.body.id,
        name: 'main',
        brokerClusterName: uniqueName('gone'),
        linkEndpoints: [{ host: '127.0.0.1', port: 1 }],
        credentials: { username: 'u', password: 'unreachable-secret' },
        nodes: [
          {
            name: 'rabbit@gone1',
            host: '127.0.0.1',
            amqpPort: p1,
            managementPort: p1,
            type: 'disc',
          },
          {
            name: 'rabbit@gone2',
            host: '127.0.0.1',
            amqpPort: p2,
            managementPort: p2,
            type: 'disc',
          },
        ],
      })
      .expect(201);
    const started = Date.now();
    const res = await t.http.post(`/clusters/${c.body.id}/observation`).set(admin()).expect(200);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.body.reachable).toBe(false);
    expect(res.body.perNode).toHaveLength(2);
    expect(
      res.body.perNode.every((n: { managementReachable: boolean }) => !n.managementReachable),
    ).toBe(true);
    expect(res.body.differences.map((d: { kind: string }) => d.kind)).toContain(
      'cluster-unreachable',
    );
    expect(res.text).not.toContain('unreachable-secret');
  });
});
