import { randomBytes } from 'node:crypto';
import { runMigrations } from '../../src/database/migrate';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { withClient } from '../helpers/postgres';
import { PrivatePostgres } from '../helpers/private-postgres';
import type { RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  type SitesState,
  type TestManagement,
} from '../helpers/sites';
import { createOrdersFederation, plantOrders, registerTwoSites } from '../helpers/two-sites';

const enc = encodeURIComponent;
const outageMs = 30000;

/**
 * Issue #8: Postgres stopped for 30 s while the reconciler, the probes and an overflow rule are
 * active. The API answers 503 problem+json promptly, the process keeps running, background work
 * pauses and resumes by itself (probe path locks re-taken, health re-evaluated, reconcile passes
 * and overflow evaluations again), and nothing in the registry is lost.
 */
describe('Postgres outage while background work runs', () => {
  let pg: PrivatePostgres;
  let t: TestApp;
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let fedId: string;
  let ruleId: string;
  const vhost = `pgout-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    pg = await PrivatePostgres.create();
    await withClient(pg.url, (c) => c.query('CREATE DATABASE crossdock'));
    await runMigrations(pg.urlFor('crossdock'));
    t = await createTestApp({
      DATABASE_URL: pg.urlFor('crossdock'),
      RECONCILE_ENABLED: 'true',
      RECONCILE_INTERVAL_MS: '5000',
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: '500',
      PROBE_BROKER_POLL_MS: '1000',
      PROBE_WINDOW_MS: '5000',
      OVERFLOW_ENABLED: 'true',
    });
    ({ dc1, dc2 } = await registerTwoSites(t.http, state, vhost));
    await plantOrders(m1, m2, vhost);
    await m1.request('PUT', `/api/queues/${enc(vhost)}/busy`, { durable: true });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/spill`, { durable: true });
    fedId = await createOrdersFederation(t.http, { dc1, dc2 }, vhost);
    ruleId = (
      await t.http
        .post('/overflow-rules')
        .set(admin())
        .send({
          name: 'busy',
          source: { clusterId: dc1.clusterId, vhost, queue: 'busy' },
          remote: { clusterId: dc2.clusterId, vhost, queue: 'spill' },
          highWatermark: 1000,
          lowWatermark: 100,
        })
        .expect(201)
    ).body.id;
  }, 120000);

  afterAll(async () => {
    if (pg && !pg.isRunning()) await pg.start().catch(() => undefined);
    await t?.close();
    await pg?.destroy();
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  }, 60000);

  it('answers 503 during the outage and resumes reconcile, probes and overflow by itself', async () => {
    // Background reconciliation (NOTIFY-triggered) builds the links and probe paths.
    await eventually(
      async () =>
        (await t.http.get(`/links/federation/${fedId}/health`).set(admin()).expect(200)).body
          .state === 'healthy',
      { timeoutMs: 60000, intervalMs: 500, description: 'link healthy before the outage' },
    );
    await eventually(
      async () =>
        (await t.http.get(`/overflow-rules/${ruleId}`).set(admin()).expect(200)).body.status
          .lastEvaluatedAt !== null,
      { timeoutMs: 20000, description: 'overflow rule evaluated before the outage' },
    );
    const before = (await t.http.get('/sites').set(admin()).expect(200)).body.items.length;

    await pg.stop();
    const stoppedAt = Date.now();
    while (Date.now() - stoppedAt < outageMs) {
      const started = Date.now();
      const res = await t.http.get(`/links/federation/${fedId}/health`).set(admin());
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(Date.now() - started).toBeLessThan(2000);
      await t.http.get('/health/live').expect(200);
      await new Promise((r) => setTimeout(r, 2000));
    }
    await pg.start();
    const restartedAt = new Date();

    // Everything resumes without a restart: link health re-evaluated from fresh probes (the
    // path lock re-taken), the overflow rule evaluated, a reconcile pass succeeds.
    await eventually(
      async () => {
        const res = await t.http.get(`/links/federation/${fedId}/health`).set(admin());
        return (
          res.status === 200 &&
          res.body.state === 'healthy' &&
          new Date(res.body.evaluatedAt as string) > restartedAt
        );
      },
      { timeoutMs: 60000, intervalMs: 500, description: 'health evaluated again after the outage' },
    );
    // Fresh samples are stored again (flushed every 2 s).
    await eventually(
      async () => {
        const paths = await t.http.get('/probes/paths').set(admin()).expect(200);
        const fed = (
          paths.body as { items: { id: string; lastMinute: { lastSampleAt: string | null } }[] }
        ).items.find((p) => p.id.startsWith('federation:'));
        return new Date(fed?.lastMinute.lastSampleAt ?? 0) > restartedAt;
      },
      { timeoutMs: 15000, intervalMs: 500, description: 'probe samples stored again' },
    );
    await eventually(
      async () => {
        const res = await t.http.get(`/overflow-rules/${ruleId}`).set(admin());
        return (
          res.status === 200 && new Date(res.body.status.lastEvaluatedAt as string) > restartedAt
        );
      },
      { timeoutMs: 30000, intervalMs: 500, description: 'overflow evaluated again' },
    );
    const run = await t.http
      .post('/reconcile')
      .set(admin())
      .send({ clusterId: dc2.clusterId })
      .expect(200);
    expect(['succeeded', 'busy']).toContain(run.body.runs[0].status);
    expect((await t.http.get('/sites').set(admin()).expect(200)).body.items.length).toBe(before);
    const audit = await t.http.get('/audit/verify').set(admin()).expect(200);
    expect(audit.body.ok).toBe(true);
  }, 240000);
});
