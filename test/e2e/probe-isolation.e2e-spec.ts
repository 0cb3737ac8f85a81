import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'amqplib';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { atLeastSites } from '../helpers/extra-sites';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
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
}

interface Point {
  at: string;
  seq: number;
  lagMs: number | null;
  lost: boolean;
}

/**
 * Probes are isolated per path: a memory alarm on one site (dc3) leaves the paths between the
 * other two sites at their cadence with nothing lost, and the links touching dc3 (as upstream
 * and as downstream) leave `healthy` within two probe intervals of the alarm appearing in the
 * broker's /api/nodes, naming the alarm and the node, with the broker poll at its default 5 s.
 */
describe('probe isolation: a memory alarm on one site', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let restoreSites: () => Promise<void> = async () => undefined;
  let m: TestManagement[] = [];
  const dc: RegisteredSite[] = [];
  const ids: Record<'f12' | 's21' | 'f13' | 'f31', string> = {
    f12: '',
    s21: '',
    f13: '',
    f31: '',
  };
  const vhost = `iso-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const health = async (kind: 'federation' | 'shovels', id: string): Promise<Health> =>
    (await t.http.get(`/links/${kind}/${id}/health`).set(admin()).expect(200)).body as Health;
  const dc3Nodes = () => site(state, 'dc3').nodes;
  const setWatermark = async (value: string) => {
    for (const n of dc3Nodes())
      await rabbitmqctl(state, n.name, 'set_vm_memory_high_watermark', value);
  };

  const federation = async (name: string, from: number, to: number, exchange: string) =>
    (
      await t.http
        .post('/links/federation')
        .set(admin())
        .send({
          name,
          kind: 'exchange',
          upstream: { clusterId: dc[from].clusterId, vhost },
          downstream: { clusterId: dc[to].clusterId, vhost },
          targets: [exchange],
          settings: { reconnectDelaySeconds: 1 },
        })
        .expect(201)
    ).body.id as string;

  beforeAll(async () => {
    const grown = await atLeastSites(loadSites(), 3);
    state = grown.state;
    restoreSites = grown.restore;
    m = await createSharedVhost(state, ['dc1', 'dc2', 'dc3'], vhost);
    db = await createMigratedDatabase('crossdock_probe_iso');
    t = await createTestApp({
      DATABASE_URL: db.url,
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: String(interval),
      // The default: alarms must not wait for the broker poll.
      PROBE_BROKER_POLL_MS: '5000',
      PROBE_WINDOW_MS: '5000',
    });
    for (const name of ['dc1', 'dc2', 'dc3'])
      dc.push(await registerLocalSite(t.http, state, site(state, name), [vhost]));
    const [m1, m2, m3] = m;
    for (const [mgmt, names] of [
      [m1, ['x12', 'x13', 'x31']],
      [m2, ['x12']],
      [m3, ['x13', 'x31']],
    ] as const)
      for (const x of names)
        await mgmt.request('PUT', `/api/exchanges/${enc(vhost)}/${x}`, {
          type: 'fanout',
          durable: true,
        });
    await m3.request('PUT', `/api/queues/${enc(vhost)}/in13`, { durable: true });
    await m3.request('POST', `/api/bindings/${enc(vhost)}/e/x13/q/in13`, { routing_key: '' });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/outbox21`, { durable: true });
    await m1.request('PUT', `/api/queues/${enc(vhost)}/inbox21`, { durable: true });
    ids.f12 = await federation('x12', 0, 1, 'x12');
    ids.f13 = await federation('x13', 0, 2, 'x13');
    ids.f31 = await federation('x31', 2, 0, 'x31');
    ids.s21 = (
      await t.http
        .post('/links/shovels')
        .set(admin())
        .send({
          name: 'outbox21',
          source: { clusterId: dc[1].clusterId, vhost, queue: 'outbox21' },
          destination: { clusterId: dc[0].clusterId, vhost, queue: 'inbox21' },
          settings: { reconnectDelaySeconds: 1 },
        })
        .expect(201)
    ).body.id;
    for (const c of [dc[0], dc[1], dc[2], dc[0]]) {
      const run = (
        await t.http
          .post('/reconcile')
          .set(admin())
          .send({ clusterId: c.clusterId })
          .expect((r) => {
            if (r.status !== 200) throw new Error(r.text);
          })
      ).body.runs[0];
      if (!['succeeded', 'busy'].includes(run.status))
        throw new Error(`reconcile: ${run.status} ${run.error} ${JSON.stringify(run.operations)}`);
    }
  }, 420000);

  afterAll(async () => {
    if (state?.sites.some((s) => s.name === 'dc3'))
      await setWatermark('0.4').catch(() => undefined);
    await t?.close().catch(() => undefined);
    if (db) await dropDatabase(db.name);
    for (const mgmt of m) await mgmt.deleteVhost(vhost);
    await restoreSites();
  }, 300000);

  it('keeps the other paths at their cadence and names the alarm within two intervals', async () => {
    const links = [
      ['federation', ids.f12],
      ['shovels', ids.s21],
      ['federation', ids.f13],
      ['federation', ids.f31],
    ] as const;
    await eventually(
      async () => {
        for (const [kind, id] of links)
          if ((await health(kind, id)).state !== 'healthy') return false;
        return true;
      },
      { timeoutMs: 60000, intervalMs: 250, description: 'all four links healthy' },
    );
    const m3 = m[2];
    const node = dc3Nodes()[0].name;
    const from = new Date();

    // Watch /api/nodes (the broker's own report) and the two links touching dc3, side by side.
    let nodesAlarmAt = 0;
    const named: Record<string, { at: number; health: Health }> = {};
    let watching = true;
    const watchers = [
      (async () => {
        while (watching && !nodesAlarmAt) {
          const nodes = await m3
            .request<{ name: string; mem_alarm?: boolean }[]>(
              'GET',
              '/api/nodes?columns=name,mem_alarm',
            )
            .catch(() => []);
          if (nodes.some((n) => n.mem_alarm === true)) nodesAlarmAt = Date.now();
          else await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      ...(['f13', 'f31'] as const).map(async (k) => {
        while (watching && !named[k]) {
          const h = await health('federation', ids[k]);
          if (h.reasons.some((r) => r.code === 'alarm')) named[k] = { at: Date.now(), health: h };
          else await new Promise((r) => setTimeout(r, 50));
        }
      }),
    ];
    await setWatermark('0.0001');
    try {
      await eventually(() => nodesAlarmAt > 0 && !!named.f13 && !!named.f31, {
        timeoutMs: 30000,
        intervalMs: 50,
        description: 'the alarm in /api/nodes and named by both dc3 links',
      });
      watching = false;
      await Promise.all(watchers);
      for (const [k, side] of [
        ['f13', 'downstream'],
        ['f31', 'upstream'],
      ] as const) {
        const { at, health: h } = named[k];
        expect(at - nodesAlarmAt).toBeLessThanOrEqual(2 * interval);
        const alarm = h.reasons.find((r) => r.code === 'alarm');
        expect(alarm?.detail).toBe(
          `memory alarm on ${side} cluster ${site(state, 'dc3').clusterName} (node ${node})`,
        );
        expect(h.state).not.toBe('healthy');
      }
      // The trigger: the alarm blocked crossdock's own probe connection to dc3 (not only the
      // broker poll, every 5 s here, found it).
      await eventually(
        () =>
          readFileSync(t.logFile, 'utf8')
            .split('\n')
            .some(
              (l) =>
                l.includes('the broker blocks the probe connection') && l.includes(dc[2].clusterId),
            ),
        { timeoutMs: 5000, intervalMs: 100, description: 'connection.blocked logged for dc3' },
      );
      // Data still crosses into the alarmed downstream (federation publishes there over a
      // connection alarms do not block), published on dc1 with confirms while the alarm lasts.
      const conn = await connect({
        hostname: site(state, 'dc1').nodes[0].host,
        port: site(state, 'dc1').nodes[0].amqpPort,
        username: state.admin.username,
        password: state.admin.password,
        vhost,
      });
      try {
        const ch = await conn.createConfirmChannel();
        for (let i = 0; i < 20; i++)
          ch.publish('x13', '', Buffer.from(`m${i}`), { persistent: true });
        await ch.waitForConfirms();
      } finally {
        await conn.close();
      }
      // Hold the alarm long enough for every confirm wait (5 s) to have come and gone.
      await new Promise((r) => setTimeout(r, Math.max(0, nodesAlarmAt + 12000 - Date.now())));
      for (const k of ['f13', 'f31'] as const) {
        const h = await health('federation', k === 'f13' ? ids.f13 : ids.f31);
        expect(h.state).not.toBe('healthy');
        expect(h.reasons.map((r) => r.code)).toContain('alarm');
      }
    } finally {
      watching = false;
      await setWatermark('0.4');
    }
    const clearedAt = Date.now();
    await eventually(
      async () => {
        for (const [kind, id] of links)
          if ((await health(kind, id)).state !== 'healthy') return false;
        return true;
      },
      { timeoutMs: 30000, intervalMs: 250, description: 'all four links healthy again' },
    );
    await eventually(
      async () =>
        (await m3.request<{ messages?: number }>('GET', `/api/queues/${enc(vhost)}/in13`))
          .messages === 20,
      { timeoutMs: 20000, intervalMs: 250, description: '20 messages crossed into dc3' },
    );

    // The paths between dc1 and dc2, over the whole alarm: cadence and loss (samples are
    // stored every 2 s).
    const to = new Date(Math.max(clearedAt, Date.now() - 1000));
    const gaps: number[] = [];
    for (const pathId of [
      `federation:${dc[0].clusterId}:${dc[1].clusterId}`,
      `shovel:${dc[1].clusterId}:${dc[0].clusterId}`,
    ]) {
      const points = await eventually(
        async () => {
          const res = await t.http
            .get(`/probes/paths/${pathId}/samples`)
            .query({ from: from.toISOString(), to: to.toISOString() })
            .set(admin())
            .expect(200);
          const p = res.body.points as Point[];
          const last = p[p.length - 1];
          return last && to.getTime() - new Date(last.at).getTime() < 2 * interval ? p : false;
        },
        { timeoutMs: 10000, intervalMs: 250, description: `stored samples of ${pathId}` },
      );
      expect(points.filter((p) => p.lost)).toEqual([]);
      const span = to.getTime() - from.getTime();
      expect(points.length).toBeGreaterThanOrEqual(Math.floor(span / interval) - 2);
      for (let i = 1; i < points.length; i++)
        gaps.push(new Date(points[i].at).getTime() - new Date(points[i - 1].at).getTime());
    }
    gaps.sort((a, b) => a - b);
    const p95 = gaps[Math.ceil(0.95 * gaps.length) - 1];
    console.info(
      `probe isolation: alarm named ${named.f13.at - nodesAlarmAt} ms (downstream) and ${named.f31.at - nodesAlarmAt} ms (upstream) after /api/nodes; dc1<->dc2 gaps p95 ${p95} ms, max ${gaps[gaps.length - 1]} ms over ${gaps.length}`,
    );
    expect(p95).toBeLessThanOrEqual(1.5 * interval);
  }, 240000);
});
