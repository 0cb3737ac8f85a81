import type { ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { controlRequest } from '../fixtures/wan-proxy';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { overflowBurst } from '../helpers/overflow-burst';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import type { RegisteredSite } from '../helpers/registry';
import { openAmqp, registerTwoSites } from '../helpers/two-sites';
import {
  createSharedVhost,
  loadSites,
  type SitesState,
  type TestManagement,
} from '../helpers/sites';

const enc = encodeURIComponent;
const evaluationMs = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Overflow of a busy queue to the remote site across the WAN proxy: a publisher with confirms
 * and unique ids bursts above the local consumer's rate; every id must be consumed at one of
 * the two sites exactly once, nothing nacked, the local depth bounded, one activation per burst.
 */
describe('overflow to the remote site', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let c1: ChannelModel;
  let c2: ChannelModel;
  const vhost = `ovf-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const ctl = (method: string, path: string, json?: unknown) =>
    controlRequest(state.wanProxy.controlPort, method, path, { json });

  async function rule(name: string, queue: string, remoteQueue: string): Promise<string> {
    const res = await t.http
      .post('/overflow-rules')
      .set(admin())
      .send({
        name,
        source: { clusterId: dc1.clusterId, vhost, queue },
        remote: { clusterId: dc2.clusterId, vhost, queue: remoteQueue },
        highWatermark: 2000,
        lowWatermark: 200,
        minHoldMs: 2000,
        prefetch: 200,
      })
      .expect(201);
    return res.body.id as string;
  }

  async function view(id: string) {
    return (await t.http.get(`/overflow-rules/${id}`).set(admin()).expect(200)).body as {
      status: { state: string; reason: string; activations: number; diverted: number };
    };
  }

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_overflow');
    t = await createTestApp({
      DATABASE_URL: db.url,
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: '500',
      PROBE_BROKER_POLL_MS: '1000',
      OVERFLOW_ENABLED: 'true',
      OVERFLOW_INTERVAL_MS: String(evaluationMs),
    });
    ({ dc1, dc2 } = await registerTwoSites(t.http, state, vhost));
    await m1.request('PUT', `/api/queues/${enc(vhost)}/orders`, { durable: true });
    await m1.request('PUT', `/api/queues/${enc(vhost)}/orders-q`, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum' },
    });
    for (const q of ['orders.spill', 'orders-q.spill'])
      await m2.request('PUT', `/api/queues/${enc(vhost)}/${q}`, { durable: true });
    c1 = await openAmqp(state, 'dc1', vhost);
    c2 = await openAmqp(state, 'dc2', vhost);
  }, 120000);

  const cleanup: string[] = [];
  afterEach(async () => {
    for (const id of cleanup.splice(0)) await t.http.delete(`/overflow-rules/${id}`).set(admin());
    // The engine stops a deleted rule's spill shovel: wait for it before the next test.
    await eventually(
      async () =>
        (await m1.request<{ name: string }[]>('GET', `/api/parameters/shovel/${enc(vhost)}`))
          .length === 0,
      { timeoutMs: 30000, description: 'spill shovels gone' },
    );
  }, 60000);

  afterAll(async () => {
    await ctl('POST', '/proxies/dc2/restore').catch(() => undefined);
    await c1?.close().catch(() => undefined);
    await c2?.close().catch(() => undefined);
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  }, 60000);

  async function ready(ruleId: string): Promise<void> {
    for (const c of [dc2, dc1]) {
      const run = (
        await t.http.post('/reconcile').set(admin()).send({ clusterId: c.clusterId }).expect(200)
      ).body.runs[0];
      if (run.status !== 'succeeded') throw new Error(`reconcile: ${run.status} ${run.error}`);
    }
    // The gate: the rule's probe path (a shovel path dc1 -> dc2) carries probes.
    await eventually(async () => (await view(ruleId)).status.reason.includes('below high'), {
      timeoutMs: 60000,
      intervalMs: 500,
      description: 'rule evaluated with the remote path healthy',
    });
  }

  for (const [kind, queue] of [
    ['classic', 'orders'],
    ['quorum', 'orders-q'],
  ] as const) {
    it(`a ${kind} queue bursts 50,000 messages: all consumed once, no nack, depth bounded, one activation`, async () => {
      const id = await rule(`${queue}-spill`, queue, `${queue}.spill`);
      cleanup.push(id);
      await ready(id);
      const r = await overflowBurst({
        local: c1,
        remote: c2,
        queue,
        remoteQueue: `${queue}.spill`,
        total: 50000,
        rate: 1600,
        localRate: 800,
      });
      if (process.env.OVERFLOW_TIMELINE) {
        const a = await t.http.get('/audit').query({ resourceId: id, limit: 200 }).set(admin());
        console.log(
          (a.body.items as { seq: string; occurredAt: string; action: string; after: unknown }[])
            .map((e) => `${e.occurredAt} ${e.action} ${JSON.stringify(e.after)?.slice(0, 300)}`)
            .join('\n'),
        );
      }
      expect({ nacks: r.nacks, duplicates: r.duplicates, missing: r.missing }).toEqual({
        nacks: 0,
        duplicates: 0,
        missing: 0,
      });
      expect(r.remote).toBeGreaterThan(0);
      // High watermark plus one evaluation interval of excess inflow.
      const bound = 2000 + ((r.publishRate - r.localRate) * evaluationMs) / 1000;
      if (r.maxDepth > bound) console.log(`${kind} depth over the bound: ${r.timeline}`);
      expect(r.maxDepth).toBeLessThanOrEqual(bound);
      const v = await eventually(
        async () => {
          const x = await view(id);
          return x.status.state === 'inactive' ? x : false;
        },
        { timeoutMs: 60000, intervalMs: 500, description: 'rule back to inactive' },
      );
      expect(v.status.activations).toBe(1);
      const audit = await t.http
        .get('/audit')
        .query({ resourceId: id, limit: 200 })
        .set(admin())
        .expect(200);
      const states = (audit.body.items as { action: string; after: { state: string } }[])
        .filter((e) => e.action === 'overflow.state.changed')
        .map((e) => e.after.state);
      expect(states.filter((s) => s === 'active')).toHaveLength(1);
      const { timeline: _t, ...figures } = r;
      console.log(`${kind}: ${JSON.stringify({ ...figures, bound: Math.round(bound), states })}`);
    }, 300000);
  }

  it('a spill to a remote queue that does not exist is failing with the reason, never active; once the queue exists it moves and diverted counts it', async () => {
    const queue = `late-${randomBytes(2).toString('hex')}`;
    const remoteQueue = `${queue}.spill`;
    await m1.request('PUT', `/api/queues/${enc(vhost)}/${queue}`, { durable: true });
    const id = await rule(`${queue}-spill`, queue, remoteQueue);
    cleanup.push(id);
    await ready(id);
    // No local consumer: 3000 messages put the queue over the high watermark (2000).
    const pub = await c1.createConfirmChannel();
    for (let i = 0; i < 3000; i++) pub.sendToQueue(queue, Buffer.from(`m${i}`));
    await pub.waitForConfirms();
    await pub.close();

    const seen: string[] = [];
    const t0 = Date.now();
    let activeAt: number | null = null;
    const failing = await eventually(
      async () => {
        const v = (await view(id)).status;
        if (seen[seen.length - 1] !== v.state)
          console.log(`${Date.now() - t0} ms: ${v.state}: ${v.reason}`);
        seen.push(v.state);
        if (activeAt === null && v.state === 'starting') activeAt = Date.now();
        return v.state === 'failing' ? v : false;
      },
      { timeoutMs: 30000, intervalMs: 200, description: 'rule failing' },
    );
    const afterStart = Date.now() - (activeAt ?? t0);
    console.log(`failing ${afterStart} ms after the spill started: ${failing.reason}`);
    expect(afterStart).toBeLessThanOrEqual(3 * evaluationMs + 1000);
    expect(failing.reason).toContain(`remote queue "${remoteQueue}" missing`);
    expect(failing.reason).toMatch(/spill shovel terminated/);
    expect(failing.diverted).toBe(0);
    // Stays failing (never active) while the queue is missing.
    for (let i = 0; i < 10; i++) {
      seen.push((await view(id)).status.state);
      await sleep(300);
    }
    expect(seen).not.toContain('active');
    expect(seen[seen.length - 1]).toBe('failing');

    // The plan lists every broker write: the spill shovel as the overflow engine's (a pass
    // neither recreates nor deletes it), and the probe vhost's access objects. Permissions
    // the broker treats alike but that differ from crossdock's are planned back.
    const probe = 'crossdock.probe';
    const probePerms = await m1.request<
      { user: string; configure: string; write: string; read: string }[]
    >('GET', `/api/vhosts/${enc(probe)}/permissions`);
    expect(probePerms.length).toBeGreaterThan(0);
    for (const p of probePerms)
      await m1.request('PUT', `/api/permissions/${enc(probe)}/${enc(p.user)}`, {
        configure: '^(.*)$',
        write: p.write,
        read: p.read,
      });
    interface PlanView {
      status: string;
      operations: { op: string; key: { kind: string; vhost: string; name: string } }[];
      findings: { kind: string; key?: { kind: string; vhost: string; name: string } }[];
    }
    const spill = { kind: 'shovel', vhost, name: `crossdock.ov.${queue}-spill` };
    const plans: PlanView[] = [
      (await t.http.get(`/clusters/${dc1.clusterId}/plan`).set(admin()).expect(200)).body,
      (
        await t.http
          .post('/reconcile')
          .set(admin())
          .send({ clusterId: dc1.clusterId, dryRun: true })
          .expect(200)
      ).body.runs[0],
    ];
    for (const plan of plans) {
      expect(plan.status).toBe('planned');
      expect(plan.findings).toContainEqual(
        expect.objectContaining({ kind: 'engine-held', key: spill }),
      );
      expect(plan.operations.map((o) => o.key)).not.toContainEqual(spill);
      const perms = plan.operations.filter((o) => o.key.kind === 'permission');
      expect(perms.length).toBeGreaterThan(0);
      expect(perms.every((o) => o.op === 'update' && o.key.vhost === probe)).toBe(true);
    }
    // A pass writes them back; the spill shovel stays the engine's.
    const pass = (
      await t.http.post('/reconcile').set(admin()).send({ clusterId: dc1.clusterId }).expect(200)
    ).body.runs[0] as PlanView;
    expect(pass.status).toBe('succeeded');
    const after = (await t.http.get(`/clusters/${dc1.clusterId}/plan`).set(admin()).expect(200))
      .body as PlanView;
    expect(after.operations.filter((o) => o.key.kind === 'permission')).toEqual([]);
    expect(after.findings).toContainEqual(
      expect.objectContaining({ kind: 'engine-held', key: spill }),
    );
    await m1.request('GET', `/api/parameters/shovel/${enc(vhost)}/${enc(spill.name)}`);

    // Declared at the remote site: the broker's restarts find it, the spill moves, no other action.
    await m2.request('PUT', `/api/queues/${enc(vhost)}/${enc(remoteQueue)}`, { durable: true });
    await eventually(
      async () => {
        const v = (await view(id)).status;
        return v.state === 'active' && v.diverted > 0;
      },
      { timeoutMs: 30000, intervalMs: 200, description: 'rule active with diverted > 0' },
    );
    // Nothing consumes locally: the spill takes it all, then stops once idle.
    const done = await eventually(
      async () => {
        const v = (await view(id)).status;
        return v.state === 'inactive' ? v : false;
      },
      { timeoutMs: 60000, intervalMs: 500, description: 'rule back to inactive' },
    );
    const ch = await c2.createChannel();
    const atRemote = (await ch.checkQueue(remoteQueue)).messageCount;
    await ch.close();
    expect(atRemote).toBe(3000);
    expect(done.diverted).toBe(atRemote);

    const audit = await t.http
      .get('/audit')
      .query({ resourceId: id, limit: 200 })
      .set(admin())
      .expect(200);
    const events = audit.body.items as {
      action: string;
      details?: Record<string, unknown>;
      after?: { state: string; values?: { diverted: unknown } };
    }[];
    // Every spill shovel write is audited as intent and outcome, deletes included.
    const count = (a: string) => events.filter((e) => e.action === a).length;
    expect(count('overflow.shovel.put.succeeded')).toBeGreaterThan(0);
    expect(count('overflow.shovel.delete.succeeded')).toBeGreaterThan(0);
    expect(count('overflow.shovel.delete.intent')).toBe(count('overflow.shovel.delete.succeeded'));
    const changes = events.filter((e) => e.action === 'overflow.state.changed');
    expect(changes.map((e) => e.after?.state)).toContain('failing');
    for (const e of changes) expect(typeof e.after?.values?.diverted).toBe('number');
    expect(changes.find((e) => e.after?.state === 'inactive')?.after?.values?.diverted).toBe(3000);
  }, 180000);

  it('a WAN cut mid-burst suspends overflow and loses nothing; what was diverted arrives after the restore', async () => {
    const id = await rule('orders-cut', 'orders', 'orders.spill');
    cleanup.push(id);
    await ready(id);
    const r = await overflowBurst({
      local: c1,
      remote: c2,
      queue: 'orders',
      remoteQueue: 'orders.spill',
      total: 20000,
      rate: 2000,
      localRate: 800,
      during: async (confirmed) => {
        await eventually(() => confirmed() > 8000, { timeoutMs: 60000, intervalMs: 100 });
        expect((await ctl('POST', '/proxies/dc2/cut', { mode: 'reset' })).status).toBe(200);
        await eventually(async () => (await view(id)).status.state === 'suspended', {
          timeoutMs: 15000,
          intervalMs: 200,
          description: 'overflow suspended',
        });
        await sleep(3000);
        expect((await ctl('POST', '/proxies/dc2/restore')).status).toBe(200);
      },
    });
    expect(r.nacks).toBe(0);
    expect(r.missing).toBe(0);
    const { timeline: _t, ...figures } = r;
    console.log(`cut: ${JSON.stringify(figures)}`);
  }, 300000);
});
