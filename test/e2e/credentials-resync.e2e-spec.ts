import { bearer, bootstrapToken, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { loadSites, type SitesState } from '../helpers/sites';

const admin = () => bearer(bootstrapToken());

interface Run {
  id: string;
  trigger: string;
  status: string;
}

/**
 * Sites re-created with a new admin password (what `scripts/sites down` + `up` does) leave the
 * registry with stale credentials: every pass fails to log in. Replacing the credentials through
 * the API starts a pass at once, without waiting for the drift schedule.
 */
describe('credentials change triggers a pass', () => {
  let t: TestApp;
  let state: SitesState;

  beforeAll(async () => {
    state = loadSites();
    // The drift schedule is far away: only the change itself can start the passes seen here.
    t = await createTestApp({ RECONCILE_ENABLED: 'true', RECONCILE_INTERVAL_MS: '3600000' });
  });
  afterAll(() => t.close());

  const runs = async (clusterId: string): Promise<Run[]> =>
    (await t.http.get('/reconcile/runs').query({ clusterId }).set(admin()).expect(200)).body
      .items as Run[];

  it('reconciles with the new credentials right after PUT /clusters/{id}/credentials', async () => {
    const local = state.sites[0];
    const site = await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('cred'), region: 'r' })
      .expect(201);
    const cluster = await t.http
      .post('/clusters')
      .set(admin())
      .send({
        siteId: site.body.id,
        name: 'main',
        brokerClusterName: local.clusterName,
        linkEndpoints: [local.link],
        vhosts: ['/'],
        credentials: { username: state.admin.username, password: 'stale-password-1234' },
        nodes: local.nodes.map((n) => ({
          name: n.name,
          host: n.host,
          amqpPort: n.amqpPort,
          managementPort: n.managementPort,
          type: n.type,
        })),
      })
      .expect(201);
    const id = cluster.body.id as string;
    const failed = await t.http.post('/reconcile').set(admin()).send({ clusterId: id }).expect(200);
    expect(failed.body.runs[0].status).toBe('failed');
    const before = (await runs(id)).length;

    await t.http.put(`/clusters/${id}/credentials`).set(admin()).send(state.admin).expect(200);
    const started = Date.now();
    const run = await eventually(
      async () => {
        const all = await runs(id);
        const fresh = all.slice(0, all.length - before);
        const done = fresh.find((r) => r.trigger === 'change' && r.status !== 'running');
        if (!done) throw new Error(`no finished change-triggered pass yet (${fresh.length} new)`);
        return done;
      },
      { timeoutMs: 30000, intervalMs: 200, description: 'a pass triggered by the change' },
    );
    expect(run.status).toBe('succeeded');
    // Well inside the drift interval: the change itself started it.
    expect(Date.now() - started).toBeLessThan(30000);
  });
});
