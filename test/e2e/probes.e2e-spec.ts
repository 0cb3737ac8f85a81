import { randomBytes } from 'node:crypto';
import { controlRequest } from '../fixtures/wan-proxy';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase, withClient } from '../helpers/postgres';
import { rabbitmqctl } from '../helpers/rabbitmqctl';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  type SitesState,
  type TestManagement,
} from '../helpers/sites';

const enc = encodeURIComponent;
const interval = 1000;

interface Health {
  state: string;
  reasons: { code: string; state: string; detail: string }[];
  values: Record<string, unknown>;
}

/**
 * Lag probes across real brokers and the WAN proxy: lag follows the added one-way delay, a cut
 * shows as down within 3 probe intervals and healthy again within 3 intervals of the broker
 * link's reconnect, alarms and links that match nothing are named, and no probe reaches a user
 * queue.
 */
describe('lag probes and link health', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let fedId: string;
  let shovelId: string;
  const vhost = `probe-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const ctl = (method: string, path: string, json?: unknown) =>
    controlRequest(state.wanProxy.controlPort, method, path, { json });
  const health = async (kind: 'federation' | 'shovels', id: string): Promise<Health> =>
    (await t.http.get(`/links/${kind}/${id}/health`).set(admin()).expect(200)).body as Health;
  const fedPath = () => `federation:${dc1.clusterId}:${dc2.clusterId}`;
  const shovelPath = () => `shovel:${dc1.clusterId}:${dc2.clusterId}`;

  /** Median lag of the samples stored for a path since `from`. */
  async function medianLag(pathId: string, from: Date): Promise<{ median: number; n: number }> {
    const res = await t.http
      .get(`/probes/paths/${pathId}/samples`)
      .query({ from: from.toISOString() })
      .set(admin())
      .expect(200);
    const lags = (res.body.points as { lagMs: number | null; lost: boolean }[])
      .filter((p) => !p.lost && p.lagMs !== null)
      .map((p) => p.lagMs as number)
      .sort((a, b) => a - b);
    return { median: lags[Math.floor(lags.length / 2)] ?? NaN, n: lags.length };
  }

  /** Waits until `ms` of fresh samples exist on both paths, and returns their medians. */
  async function measure(ms: number): Promise<{ fed: number; shovel: number }> {
    const from = new Date();
    await new Promise((r) => setTimeout(r, ms + 2500)); // + one sample flush
    const fed = await medianLag(fedPath(), from);
    const shovel = await medianLag(shovelPath(), from);
    expect(fed.n).toBeGreaterThanOrEqual(ms / interval - 2);
    expect(shovel.n).toBeGreaterThanOrEqual(ms / interval - 2);
    return { fed: fed.median, shovel: shovel.median };
  }

  async function setLatency(ms: number): Promise<void> {
    for (const p of ['dc1', 'dc2'])
      expect(
        (await ctl('PUT', `/proxies/${p}/latency`, { upstreamMs: ms, downstreamMs: ms })).status,
      ).toBe(200);
  }

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_probes');
    t = await createTestApp({
      DATABASE_URL: db.url,
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: String(interval),
      PROBE_BROKER_POLL_MS: '500',
      PROBE_WINDOW_MS: '5000',
    });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]);
    for (const m of [m1, m2])
      await m.request('PUT', `/api/exchanges/${enc(vhost)}/orders`, {
        type: 'fanout',
        durable: true,
      });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/orders.dc2`, { durable: true });
    await m2.request('POST', `/api/bindings/${enc(vhost)}/e/orders/q/orders.dc2`, {
      routing_key: '',
    });
    await m1.request('PUT', `/api/queues/${enc(vhost)}/outbox`, { durable: true });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/inbox`, { durable: true });
    fedId = (
      await t.http
        .post('/links/federation')
        .set(admin())
        .send({
          name: 'orders',
          kind: 'exchange',
          downstream: { clusterId: dc2.clusterId, vhost },
          upstream: { clusterId: dc1.clusterId, vhost },
          targets: ['orders'],
          settings: { reconnectDelaySeconds: 1 },
        })
        .expect(201)
    ).body.id;
    shovelId = (
      await t.http
        .post('/links/shovels')
        .set(admin())
        .send({
          name: 'outbox',
          source: { clusterId: dc1.clusterId, vhost, queue: 'outbox' },
          destination: { clusterId: dc2.clusterId, vhost, queue: 'inbox' },
          settings: { reconnectDelaySeconds: 1 },
        })
        .expect(201)
    ).body.id;
    for (const c of [dc1, dc2, dc1]) {
      const run = (
        await t.http
          .post('/reconcile')
          .set(admin())
          .send({ clusterId: c.clusterId })
          .expect((r) => {
            if (r.status !== 200) throw new Error(r.text);
          })
      ).body.runs[0];
      if (run.status !== 'succeeded')
        throw new Error(`reconcile: ${run.status} ${run.error} ${JSON.stringify(run.operations)}`);
    }
  }, 120000);

  let replica: TestApp | undefined;
  afterAll(async () => {
    await replica?.close();
    await setLatency(0).catch(() => undefined);
    await ctl('POST', '/proxies/dc1/restore').catch(() => undefined);
    await ctl('POST', '/proxies/dc2/restore').catch(() => undefined);
    for (const n of site(state, 'dc2').nodes)
      await rabbitmqctl(state, n.name, 'set_vm_memory_high_watermark', '0.4').catch(
        () => undefined,
      );
    await t?.close().catch(() => undefined);
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  }, 60000);

  it('probes cross both paths in crossdock’s own vhost and the links turn healthy', async () => {
    for (const [kind, id] of [
      ['federation', fedId],
      ['shovels', shovelId],
    ] as const) {
      await eventually(async () => (await health(kind, id)).state === 'healthy', {
        timeoutMs: 45000,
        intervalMs: 250,
        description: `${kind} link healthy`,
      });
    }
    const h = await health('federation', fedId);
    expect(h.values.lagP50Ms).toEqual(expect.any(Number));
    expect(h.values).toMatchObject({ expectedLinks: 1, observedLinks: 1, runningLinks: 1 });
    const paths = (await t.http.get('/probes/paths').set(admin()).expect(200)).body as {
      id: string;
      linkIds: string[];
    }[];
    expect(paths.map((p) => p.id).sort()).toEqual([fedPath(), shovelPath()].sort());
    // Probe objects already on the broker as desired but missing from the ledger (the far
    // side's link declared them before this cluster's first pass; here: ledger rows removed)
    // are adopted: a pass reports no unowned object in the probe vhost and owns them again.
    const probeRows = `SELECT count(*)::int AS n FROM managed_objects WHERE vhost = 'crossdock.probe'`;
    const owned = (await withClient(db.url, (c) => c.query(probeRows))).rows[0].n as number;
    await withClient(db.url, (c) =>
      c.query(`DELETE FROM managed_objects WHERE vhost = 'crossdock.probe'`),
    );
    for (const c of [dc1, dc2]) {
      const run = (
        await t.http.post('/reconcile').set(admin()).send({ clusterId: c.clusterId }).expect(200)
      ).body.runs[0] as { status: string; findings: { kind: string; key?: { vhost: string } }[] };
      expect(['succeeded', 'busy']).toContain(run.status);
      expect(
        run.findings.filter(
          (f) => f.kind === 'unmanaged-conflict' && f.key?.vhost === 'crossdock.probe',
        ),
      ).toEqual([]);
    }
    expect((await withClient(db.url, (c) => c.query(probeRows))).rows[0].n).toBe(owned);
    // Health is computed from samples in memory; the stored series follows with the next flush
    // (every 2 s).
    const series = await eventually(
      async () => {
        const res = await t.http
          .get(`/probes/paths/${fedPath()}/samples`)
          .query({ step: 5 })
          .set(admin())
          .expect(200);
        return res.body.points.length > 0 ? res : false;
      },
      { timeoutMs: 10000, intervalMs: 250, description: 'stored probe samples' },
    );
    expect(series.body.points[0]).toMatchObject({ samples: expect.any(Number) });
  }, 60000);

  it('reports the added one-way WAN delay within 5 ms + 5% on both paths', async () => {
    const base = await measure(8000);
    for (const added of [50, 200]) {
      await setLatency(added);
      await new Promise((r) => setTimeout(r, 1500));
      const got = await measure(8000);
      const tolerance = 5 + 0.05 * added;
      expect(Math.abs(got.fed - base.fed - added)).toBeLessThanOrEqual(tolerance);
      expect(Math.abs(got.shovel - base.shovel - added)).toBeLessThanOrEqual(tolerance);
    }
    await setLatency(0);
  }, 90000);

  it('a reset cut is down within 3 probe intervals and healthy within 3 intervals of the reconnect, both audited', async () => {
    await eventually(async () => (await health('federation', fedId)).state === 'healthy', {
      timeoutMs: 20000,
      intervalMs: 200,
      description: 'healthy before the cut',
    });
    const cutAt = Date.now();
    expect((await ctl('POST', '/proxies/dc1/cut', { mode: 'reset' })).status).toBe(200);
    await eventually(async () => (await health('federation', fedId)).state === 'down', {
      timeoutMs: 10000,
      intervalMs: 50,
      description: 'down after the cut',
    });
    expect(Date.now() - cutAt).toBeLessThanOrEqual(3 * interval);
    await new Promise((r) => setTimeout(r, 2000));
    const before = (await ctl('GET', '/proxies/dc1')).body as { connections: { open: number } };
    expect((await ctl('POST', '/proxies/dc1/restore')).status).toBe(200);
    // The broker link reconnects through the proxy: that moment starts the 3-interval clock.
    let reconnectedAt = 0;
    await eventually(
      async () => {
        const s = (await ctl('GET', '/proxies/dc1')).body as { connections: { open: number } };
        if (s.connections.open > before.connections.open) reconnectedAt = Date.now();
        return reconnectedAt > 0;
      },
      { timeoutMs: 30000, intervalMs: 25, description: 'broker link reconnected' },
    );
    await eventually(async () => (await health('federation', fedId)).state === 'healthy', {
      timeoutMs: 20000,
      intervalMs: 50,
      description: 'healthy after the reconnect',
    });
    // The link needs a few broker round trips (channel, queue, bindings) after its TCP connect.
    expect(Date.now() - reconnectedAt).toBeLessThanOrEqual(3 * interval + 500);
    const audit = await t.http
      .get('/audit')
      .query({ resourceId: fedId, limit: 100 })
      .set(admin())
      .expect(200);
    const transitions = (
      audit.body.items as { action: string; after: { state: string; reasons: unknown[] } }[]
    ).filter((e) => e.action === 'link.health.changed');
    expect(transitions.map((e) => e.after.state)).toEqual(
      expect.arrayContaining(['down', 'healthy']),
    );
    const down = transitions.find((e) => e.after.state === 'down');
    expect(JSON.stringify(down?.after.reasons)).toMatch(/probe-overdue|broker-link-not-running/);
  }, 90000);

  it('a blackhole cut (silent, noticed by heartbeats) is down within 3 probe intervals', async () => {
    await eventually(async () => (await health('federation', fedId)).state === 'healthy', {
      timeoutMs: 30000,
      intervalMs: 200,
      description: 'healthy before the cut',
    });
    const cutAt = Date.now();
    expect((await ctl('POST', '/proxies/dc1/cut', { mode: 'blackhole' })).status).toBe(200);
    await eventually(async () => (await health('federation', fedId)).state === 'down', {
      timeoutMs: 10000,
      intervalMs: 50,
      description: 'down after the blackhole cut',
    });
    expect(Date.now() - cutAt).toBeLessThanOrEqual(3 * interval);
    expect((await ctl('POST', '/proxies/dc1/restore')).status).toBe(200);
    // The silenced connection stays "running" until the heartbeat notices it; the link then goes
    // and comes back. The 3-interval clock starts when the broker lists it running again.
    let wentAway = false;
    let reconnectedAt = 0;
    await eventually(
      async () => {
        const links = await m2.request<{ upstream: string; status: string }[]>(
          'GET',
          `/api/federation-links/${enc(vhost)}`,
        );
        const running = links.some(
          (l) => l.upstream === 'crossdock.up.orders' && l.status === 'running',
        );
        if (!running) wentAway = true;
        if (wentAway && running) reconnectedAt = Date.now();
        return reconnectedAt > 0;
      },
      { timeoutMs: 150000, intervalMs: 100, description: 'the broker link reconnected' },
    );
    await eventually(async () => (await health('federation', fedId)).state === 'healthy', {
      timeoutMs: 20000,
      intervalMs: 50,
      description: 'healthy after the reconnect',
    });
    expect(Date.now() - reconnectedAt).toBeLessThanOrEqual(3 * interval + 500);
  }, 200000);

  it('names a memory alarm on the destination: shovel down or degraded, federation degraded', async () => {
    await eventually(
      async () =>
        (await health('federation', fedId)).state === 'healthy' &&
        (await health('shovels', shovelId)).state === 'healthy',
      { timeoutMs: 30000, intervalMs: 250, description: 'healthy before the alarm' },
    );
    for (const n of site(state, 'dc2').nodes)
      await rabbitmqctl(state, n.name, 'set_vm_memory_high_watermark', '0.0001');
    try {
      await eventually(
        async () => {
          const s = await health('shovels', shovelId);
          return (
            ['down', 'degraded'].includes(s.state) && s.reasons.some((r) => r.code === 'alarm')
          );
        },
        { timeoutMs: 20000, intervalMs: 250, description: 'shovel names the alarm' },
      );
      const f = await eventually(
        async () => {
          const h = await health('federation', fedId);
          return h.reasons.some((r) => r.code === 'alarm') ? h : false;
        },
        { timeoutMs: 20000, intervalMs: 250, description: 'federation names the alarm' },
      );
      expect(f.state).toBe('degraded');
      expect(f.reasons.find((r) => r.code === 'alarm')?.detail).toMatch(
        /memory alarm on downstream/,
      );
    } finally {
      for (const n of site(state, 'dc2').nodes)
        await rabbitmqctl(state, n.name, 'set_vm_memory_high_watermark', '0.4');
    }
    await eventually(async () => (await health('shovels', shovelId)).state === 'healthy', {
      timeoutMs: 30000,
      intervalMs: 250,
      description: 'shovel healthy after the alarm',
    });
  }, 120000);

  it('a federation link whose policy matches no exchange is missing (expected 1, observed 0)', async () => {
    const ghost = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'ghost',
        kind: 'exchange',
        downstream: { clusterId: dc2.clusterId, vhost },
        upstream: { clusterId: dc1.clusterId, vhost },
        targets: ['no-such-exchange'],
        settings: { reconnectDelaySeconds: 1 },
      })
      .expect(201);
    await t.http.post('/reconcile').set(admin()).send({ clusterId: dc2.clusterId }).expect(200);
    const h = await eventually(
      async () => {
        const x = await health('federation', ghost.body.id);
        return x.reasons.some((r) => r.code === 'missing') ? x : false;
      },
      { timeoutMs: 20000, intervalMs: 250, description: 'ghost link missing' },
    );
    expect(h.state).toBe('down');
    expect(h.reasons.find((r) => r.code === 'missing')?.detail).toBe(
      'expected 1 broker link(s), observed 0',
    );
    const siteHealth = await t.http.get(`/sites/${dc2.siteId}/health`).set(admin()).expect(200);
    expect(siteHealth.body.state).toBe('down');
    expect(siteHealth.body.links.map((l: { linkId: string }) => l.linkId)).toEqual(
      expect.arrayContaining([fedId, shovelId, ghost.body.id]),
    );
    const scrape = async () => (await t.http.get('/metrics').set(admin()).expect(200)).text;
    const series = `link="${ghost.body.id}"`;
    const before = await eventually(
      async () => ((await scrape()).includes(series) ? true : false),
      {
        timeoutMs: 5000,
        intervalMs: 250,
        description: 'the ghost link exported',
      },
    );
    expect(before).toBe(true);
    // Reconcile series: the manual pass above, and dc2's last good pass as a fresh age.
    const text = await scrape();
    expect(text).toMatch(
      /crossdock_reconcile_pass_duration_seconds_count\{trigger="manual",outcome="succeeded"\} [1-9]/,
    );
    expect(text).toMatch(
      /crossdock_reconcile_operations_total\{kind="[a-z-]+",op="create",outcome="succeeded"\} [1-9]/,
    );
    expect(text).toContain(
      `crossdock_reconcile_last_success_age_seconds{cluster="${dc2.clusterId}"`,
    );
    expect(text).toMatch(/crossdock_reconcile_pending_follow_ups \d+/);
    // Once the link is deleted its series go too: an alert on them would otherwise never clear.
    await t.http.delete(`/links/federation/${ghost.body.id}`).set(admin()).expect(204);
    await eventually(async () => !(await scrape()).includes(series), {
      timeoutMs: 10000,
      intervalMs: 250,
      description: 'the deleted link no longer exported',
    });
  }, 60000);

  it('no probe ever reaches a user queue bound to the federated fanout exchange', async () => {
    const q = await m2.request<{ messages?: number }>(
      'GET',
      `/api/queues/${enc(vhost)}/orders.dc2`,
    );
    const stats = await m2.request<{ message_stats?: { publish?: number } }>(
      'GET',
      `/api/queues/${enc(vhost)}/orders.dc2`,
    );
    expect(q.messages ?? 0).toBe(0);
    expect(stats.message_stats?.publish ?? 0).toBe(0);
    const metrics = await t.http.get('/metrics').set(admin()).expect(200);
    expect(metrics.text).toContain('crossdock_probe_lag_seconds_bucket');
    expect(metrics.text).toContain('crossdock_link_up');
  });

  it('a second replica takes the paths over when the first one goes away', async () => {
    const before = await health('federation', fedId);
    const first = (before as Health & { evaluatedBy: string }).evaluatedBy;
    replica = await createTestApp({
      DATABASE_URL: db.url,
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: String(interval),
      PROBE_BROKER_POLL_MS: '500',
      PROBE_WINDOW_MS: '5000',
    });
    // Both run; the paths stay with the instance holding their locks.
    await new Promise((r) => setTimeout(r, 3 * interval));
    const r = replica;
    const view = async () =>
      (await r.http.get(`/links/federation/${fedId}/health`).set(admin()).expect(200))
        .body as Health & {
        evaluatedBy: string;
      };
    expect((await view()).evaluatedBy).toBe(first);
    const goneAt = Date.now();
    await t.close();
    const taken = await eventually(
      async () => {
        const v = await view();
        return v.evaluatedBy !== first && v.state === 'healthy' ? v : false;
      },
      { timeoutMs: 30000, intervalMs: 100, description: 'the replica evaluates the link' },
    );
    expect(taken.evaluatedBy).not.toBe(first);
    // Its own probes: loopback baselines, a first probe in time, the broker poll.
    expect(Date.now() - goneAt).toBeLessThanOrEqual(10 * interval);
  }, 60000);
});
