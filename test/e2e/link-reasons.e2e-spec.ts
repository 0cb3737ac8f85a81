import { randomBytes } from 'node:crypto';
import { controlRequest } from '../fixtures/wan-proxy';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { rabbitmqctl } from '../helpers/rabbitmqctl';
import type { RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  type SitesState,
  type TestManagement,
} from '../helpers/sites';
import {
  createOrdersFederation,
  plantOrders,
  reconcileClusters,
  registerTwoSites,
} from '../helpers/two-sites';

const enc = encodeURIComponent;

interface Cause {
  code: string;
  detail: string;
  source: string;
  object?: { kind: string; name: string; vhost?: string };
  permission?: string;
}
interface Status {
  verdict: string;
  brokerState?: string;
  cause?: Cause;
  broker: { status: string; error?: string; cause?: Cause }[];
  dataPlane?: { state: string };
  divergence?: string;
}
interface Health {
  state: string;
  brokerState: string | null;
  cause: Cause | null;
  divergence: string | null;
  reasons: { code: string; detail: string; cause?: Cause }[];
}

const connectionCodes = ['connection-refused', 'connection-reset', 'timeout', 'host-unreachable'];

/**
 * Real failure reasons on real brokers: a shovel into a queue the link user may not declare
 * shows the queue in its status and health, and recovers once the queue exists; a cut WAN shows
 * the broker's connection error, not only an overdue probe.
 */
describe('link failure reasons', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let shovelId = '';
  const vhost = `reasons-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const ctl = (method: string, path: string, json?: unknown) =>
    controlRequest(state.wanProxy.controlPort, method, path, { json });
  const status = async (kind: 'federation' | 'shovels', id: string) =>
    (await t.http.get(`/links/${kind}/${id}/status`).set(admin()).expect(200)).body as Status;
  const health = async (kind: 'federation' | 'shovels', id: string) =>
    (await t.http.get(`/links/${kind}/${id}/health`).set(admin()).expect(200)).body as Health;

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_reasons');
    t = await createTestApp({
      DATABASE_URL: db.url,
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: '1000',
      PROBE_BROKER_POLL_MS: '500',
      PROBE_WINDOW_MS: '5000',
    });
    ({ dc1, dc2 } = await registerTwoSites(t.http, state, vhost));
  }, 60000);
  afterAll(async () => {
    await ctl('POST', '/proxies/dc1/restore').catch(() => undefined);
    for (const n of site(state, 'dc2').nodes)
      await rabbitmqctl(state, n.name, 'set_vm_memory_high_watermark', '0.4').catch(
        () => undefined,
      );
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  });

  it('a shovel into a missing remote queue names the queue, and recovers once it exists', async () => {
    await m1.request('PUT', `/api/queues/${enc(vhost)}/outbox`, { durable: true });
    const id = (
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
    ).body.id as string;
    await reconcileClusters(t.http, [dc1, dc2]);

    const named = (c: Cause | null | undefined) =>
      !!c && ['access-refused', 'not-found'].includes(c.code) && c.object?.name === 'inbox';
    const s = await eventually(
      async () => {
        const s = await status('shovels', id);
        return s.verdict !== 'running' && named(s.cause) ? s : false;
      },
      { timeoutMs: 20000, intervalMs: 500, description: 'status names the missing queue' },
    );
    expect(s.brokerState).not.toBe('running');
    // The link user may not declare it (crossdock grants configure on its own objects only):
    // the broker's ACCESS_REFUSED, which 3.10 writes only to its log, names queue and permission.
    expect(s.cause).toMatchObject({
      code: 'access-refused',
      permission: 'configure',
      object: { kind: 'queue', name: 'inbox', vhost },
      source: 'preflight',
    });
    expect(s.cause?.detail).toContain('"inbox"');
    const h = await eventually(
      async () => {
        const h = await health('shovels', id);
        return named(h.cause) ? h : false;
      },
      { timeoutMs: 20000, intervalMs: 500, description: 'health names the missing queue' },
    );
    expect(h.state).toBe('down');
    expect(h.reasons.find((r) => r.code === 'broker-link-not-running')?.detail).toContain('inbox');

    // The queue appears on the destination: the shovel runs again by itself.
    await m2.request('PUT', `/api/queues/${enc(vhost)}/inbox`, { durable: true });
    const ok = await eventually(
      async () => {
        const s = await status('shovels', id);
        return s.verdict === 'running' ? s : false;
      },
      { timeoutMs: 20000, intervalMs: 500, description: 'shovel running once the queue exists' },
    );
    expect(ok.cause).toBeUndefined();
    await eventually(async () => (await health('shovels', id)).state === 'healthy', {
      timeoutMs: 20000,
      intervalMs: 500,
      description: 'shovel healthy, its cause cleared',
    });
    expect((await health('shovels', id)).cause).toBeNull();
    shovelId = id;
  }, 60000);

  it('a shovel the broker calls running under a destination memory alarm: the divergence names the alarm', async () => {
    for (const n of site(state, 'dc2').nodes)
      await rabbitmqctl(state, n.name, 'set_vm_memory_high_watermark', '0.0001');
    try {
      const h = await eventually(
        async () => {
          const h = await health('shovels', shovelId);
          return h.state !== 'healthy' && h.brokerState === 'running' && h.divergence ? h : false;
        },
        { timeoutMs: 20000, intervalMs: 250, description: 'health explains the divergence' },
      );
      expect(h.cause).toMatchObject({ code: 'resource-alarm', source: 'node-alarm' });
      expect(h.divergence).toMatch(/memory alarm on destination cluster/);
      const s = await status('shovels', shovelId);
      expect(s.verdict).toBe('running');
      expect(s.cause).toMatchObject({ code: 'resource-alarm' });
      expect(s.divergence).toMatch(/memory alarm on destination cluster/);
    } finally {
      for (const n of site(state, 'dc2').nodes)
        await rabbitmqctl(state, n.name, 'set_vm_memory_high_watermark', '0.4');
    }
  }, 40000);

  it('a cut WAN shows the broker connection error in status and health', async () => {
    await plantOrders(m1, m2, vhost);
    const id = await createOrdersFederation(t.http, { dc1, dc2 }, vhost);
    await reconcileClusters(t.http, [dc2, dc1, dc2]);
    let last: Health | undefined;
    await eventually(
      async () => {
        last = await health('federation', id);
        return last.state === 'healthy';
      },
      {
        timeoutMs: 30000,
        intervalMs: 250,
        description: `federation healthy before the cut (${JSON.stringify(last)})`,
      },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}`);
    });
    expect((await ctl('POST', '/proxies/dc1/cut', { mode: 'reset' })).status).toBe(200);
    const h = await eventually(
      async () => {
        const h = await health('federation', id);
        return h.state === 'down' && h.cause && connectionCodes.includes(h.cause.code) ? h : false;
      },
      { timeoutMs: 25000, intervalMs: 250, description: 'health carries a connection cause' },
    );
    expect(h.cause?.source).toBe('broker-status');
    const overdue = h.reasons.find((r) => r.code === 'probe-overdue');
    if (overdue) expect(connectionCodes).toContain(overdue.cause?.code);
    const s = await status('federation', id);
    expect(connectionCodes).toContain(s.cause?.code);
    expect(s.broker.some((b) => b.cause && connectionCodes.includes(b.cause.code))).toBe(true);

    expect((await ctl('POST', '/proxies/dc1/restore')).status).toBe(200);
    await eventually(async () => (await status('federation', id)).verdict === 'running', {
      timeoutMs: 20000,
      intervalMs: 250,
      description: 'federation running after the restore',
    });
  }, 60000);
});
