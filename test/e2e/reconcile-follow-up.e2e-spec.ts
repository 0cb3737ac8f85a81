import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import { createOrdersFederation, plantOrders } from '../helpers/two-sites';
import {
  createSharedVhost,
  loadSites,
  site,
  TestManagement,
  type SitesState,
} from '../helpers/sites';

const enc = encodeURIComponent;
/** Idle queues seeded at the downstream cluster: its passes take about a second. */
const seededQueues = Number(process.env.FOLLOW_UP_SEEDED_QUEUES ?? 6000);
const gapsMs = [100, 300, 500, 900];

interface RunRow {
  seq: string;
  trigger: string;
  status: string;
  instance_id: string;
  started_at: Date;
  finished_at: Date | null;
}

/**
 * Issue #14 item 3: a change committed while its cluster's pass runs reaches the broker with a
 * follow-up pass started as soon as the running one ends, not with the drift schedule (off
 * here). Two PATCHes of one link 0.1, 0.3, 0.5 and 0.9 s apart on a cluster whose pass takes
 * about a second: the second value is on the broker within (pass duration + 1 s), sent to one
 * replica, then with the two PATCHes sent to two different replicas.
 */
describe('changes during a running pass get a follow-up pass (issue #14)', () => {
  let a: TestApp;
  let b: TestApp | undefined;
  let db: { name: string; url: string };
  let pg: Client;
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let linkId: string;
  let prefetch = 1000;
  const vhost = `followup-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const env = () => ({
    DATABASE_URL: db.url,
    RECONCILE_ENABLED: 'true',
    // No drift schedule: only change triggers and follow-ups move the broker.
    RECONCILE_INTERVAL_MS: '0',
    RECONCILE_DEBOUNCE_MS: '50',
    // Listing thousands of queues on a loaded test machine can take seconds.
    BROKER_HTTP_TIMEOUT_MS: '15000',
  });

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    for (let from = 0; from < seededQueues; from += 250)
      await m2.request('POST', '/api/definitions', {
        queues: Array.from({ length: Math.min(250, seededQueues - from) }, (_, i) => ({
          name: `idle.${from + i}`,
          vhost,
          durable: true,
          auto_delete: false,
          arguments: {},
        })),
      });
    db = await createMigratedDatabase('crossdock_followup');
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    a = await createTestApp(env());
    dc1 = await registerLocalSite(a.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(a.http, state, site(state, 'dc2'), [vhost]);
    await plantOrders(m1, m2, vhost);
    linkId = await createOrdersFederation(a.http, { dc1, dc2 }, vhost, {
      prefetchCount: prefetch,
    });
  }, 300000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await pg?.end().catch(() => undefined);
    if (db) await dropDatabase(db.name);
    // Thousands of queues: deleting the vhost takes longer than the helper's request timeout.
    if (state) {
      const n = site(state, 'dc2').nodes[0];
      const auth = Buffer.from(`${state.admin.username}:${state.admin.password}`).toString(
        'base64',
      );
      await fetch(`http://${n.host}:${n.managementPort}/api/vhosts/${enc(vhost)}`, {
        method: 'DELETE',
        headers: { authorization: `Basic ${auth}` },
        signal: AbortSignal.timeout(120000),
      }).catch(() => undefined);
    }
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  });

  const brokerPrefetch = async () => {
    const ups = await m2.request<{ name: string; value: Record<string, unknown> }[]>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vhost)}`,
    );
    return ups.find((u) => u.name.includes('orders'))?.value['prefetch-count'];
  };
  const runsAfter = async (seq: string) =>
    (
      await pg.query<RunRow>(
        `SELECT seq::text, trigger, status, instance_id, started_at, finished_at FROM reconcile_runs
          WHERE cluster_id = $1 AND reconcile_runs.seq > $2::bigint ORDER BY reconcile_runs.seq`,
        [dc2.clusterId, seq],
      )
    ).rows;
  /**
   * No pass running or asked for, the last value on the broker, and the newest pass ended a
   * while ago (a follow-up starts right after the pass before it): the newest run's seq.
   */
  const idle = () =>
    eventually(
      async () => {
        const { rows } = await pg.query<{
          seq: string;
          running: boolean;
          ended_ms: number;
          status: string;
          error: string | null;
        }>(
          `SELECT seq::text, status = 'running' AS running, status, error,
                  extract(epoch FROM (now() - finished_at)) * 1000 AS ended_ms
             FROM reconcile_runs WHERE cluster_id = $1 ORDER BY reconcile_runs.seq DESC LIMIT 1`,
          [dc2.clusterId],
        );
        const requested = await pg.query(`SELECT 1 FROM reconcile_requests WHERE cluster_id = $1`, [
          dc2.clusterId,
        ]);
        const last = rows[0];
        const value = await brokerPrefetch();
        if (
          !last ||
          last.running ||
          !(last.ended_ms > 500) ||
          requested.rowCount !== 0 ||
          value !== prefetch
        )
          throw new Error(
            `last run ${JSON.stringify(last)}, requested ${requested.rowCount}, prefetch ${String(value)}/${prefetch}`,
          );
        return last.seq;
      },
      { timeoutMs: 60000, intervalMs: 100, description: 'dc2 idle and converged' },
    );
  const patch = (app: TestApp, value: number) =>
    app.http
      .patch(`/links/federation/${linkId}`)
      .set(admin())
      .send({ settings: { reconnectDelaySeconds: 1, prefetchCount: value } })
      .expect(200);

  /** PATCH 1 to `first`, PATCH 2 `gap` ms later to `second`; the measured outcome. */
  const scenario = async (first: TestApp, second: TestApp, gap: number) => {
    const after = await idle();
    const v1 = ++prefetch;
    const v2 = ++prefetch;
    await patch(first, v1);
    // The gap between the two changes is the scenario itself, not a wait for a condition.
    await new Promise((r) => setTimeout(r, gap));
    await patch(second, v2);
    const t2 = Date.now();
    await eventually(async () => (await brokerPrefetch()) === v2, {
      timeoutMs: 30000,
      intervalMs: 20,
      description: `prefetch ${v2} on the broker`,
    });
    const latency = Date.now() - t2;
    const runs = await eventually(
      async () => {
        const rows = await runsAfter(after);
        return rows.every((r) => r.finished_at) ? rows : false;
      },
      { timeoutMs: 30000, intervalMs: 100, description: 'passes finished' },
    );
    const passes = runs.filter((r) => r.status !== 'busy');
    const longest = Math.max(
      ...passes.map((r) => (r.finished_at as Date).getTime() - r.started_at.getTime()),
    );
    return { gap, latency, longest, passes, after };
  };

  const check = (results: Awaited<ReturnType<typeof scenario>>[]) => {
    console.log(
      results
        .map(
          (r) =>
            `gap ${r.gap} ms: second change on the broker after ${r.latency} ms; longest pass ${r.longest} ms; passes ${r.passes.map((p) => p.trigger).join(',')} (after ${r.after}: ${r.passes.map((p) => p.seq).join(',')})`,
        )
        .join('\n'),
    );
    for (const r of results) {
      expect(r.latency).toBeLessThanOrEqual(r.longest + 1000);
      // Coalesced: at most one follow-up for the changes of one running pass.
      expect(r.passes.filter((p) => p.trigger === 'follow-up').length).toBeLessThanOrEqual(1);
    }
  };

  it('one replica: the second change follows the running pass at once', async () => {
    // The pass under test really takes about a second (the seeded queues).
    await idle();
    const results = [];
    for (const gap of gapsMs) results.push(await scenario(a, a, gap));
    check(results);
    expect(results.some((r) => r.passes.some((p) => p.trigger === 'follow-up'))).toBe(true);
    const metrics = await a.http.get('/metrics').expect(200);
    expect(metrics.text).toMatch(/crossdock_reconcile_busy_total\{[^}]*\} [1-9]/);
    expect(metrics.text).toMatch(/crossdock_reconcile_follow_ups_total [1-9]/);
  });

  it('two replicas: the second change, sent to the other replica, follows the running pass at once', async () => {
    b = await createTestApp(env());
    const results = [];
    for (const gap of gapsMs) results.push(await scenario(a, b, gap));
    check(results);
    // The cross-replica path really ran: B found the cluster held by A at least once. Either A's
    // follow-up or B's own retry right after A released the lock then applied the second change
    // (both within the bound checked above); which one wins is a race, and both are correct.
    const followedUp = results.some((r) => r.passes.some((p) => p.trigger === 'follow-up'));
    const metrics = await b.http.get('/metrics').expect(200);
    const busyOnB = /crossdock_reconcile_busy_total\{[^}]*holder="another-instance"[^}]*\} [1-9]/;
    expect({ followedUp, busyOnB: busyOnB.test(metrics.text) }).not.toEqual({
      followedUp: false,
      busyOnB: false,
    });
  });
});
