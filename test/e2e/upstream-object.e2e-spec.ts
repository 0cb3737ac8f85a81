import { connect, type ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  TestManagement,
  type SitesState,
} from '../helpers/sites';

const enc = encodeURIComponent;

/**
 * A queue federation link whose upstream queue has another name (upstream key `queue`): dc1's
 * `from_cega` pulls dc2's `to_fega`, created through the API and adopted from a hand-written
 * upstream, and exported as such.
 */
describe('federation from an upstream queue of another name (real brokers)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const consumers: ChannelModel[] = [];
  const tag = randomBytes(3).toString('hex');
  const va = `upobj-${tag}`;
  const vi = `upobj-imp-${tag}`;
  const admin = () => bearer(bootstrapToken());

  const reconcile = async (clusterId: string) => {
    const res = await t.http.post('/reconcile').set(admin()).send({ clusterId }).expect(200);
    return res.body.runs[0] as { status: string; error: string | null };
  };

  /** Consumes `from_cega` at dc1 and publishes to `to_fega` at dc2 until all arrive. */
  async function provesMessagesMove(vhost: string, label: string): Promise<void> {
    const n = site(state, 'dc1').nodes[0];
    const c = await connect(
      `amqp://${enc(state.admin.username)}:${enc(state.admin.password)}@${n.host}:${n.amqpPort}/${enc(vhost)}`,
    );
    c.on('error', () => undefined);
    consumers.push(c);
    const ch = await c.createChannel();
    const got: string[] = [];
    await ch.consume('from_cega', (msg) => msg && got.push(msg.content.toString()), {
      noAck: true,
    });
    await eventually(
      async () =>
        (
          await m1.request<{ status: string; queue?: string }[]>(
            'GET',
            `/api/federation-links/${enc(vhost)}`,
          )
        ).some((l) => l.status === 'running' && l.queue === 'from_cega'),
      { timeoutMs: 20000, description: `${label}: queue federation link running` },
    );
    const sent = [0, 1, 2].map((i) => `${label}-${i}`);
    for (const payload of sent)
      await m2.request('POST', `/api/exchanges/${enc(vhost)}/amq.default/publish`, {
        properties: {},
        routing_key: 'to_fega',
        payload,
        payload_encoding: 'string',
      });
    await eventually(() => got.length >= sent.length, {
      timeoutMs: 20000,
      description: `${label}: messages published to dc2 to_fega consumed from dc1 from_cega`,
    });
    expect(got.sort()).toEqual(sent);
    await c.close().catch(() => undefined);
  }

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], va);
    await createSharedVhost(state, ['dc1', 'dc2'], vi);
    for (const v of [va, vi]) {
      await m1.request('PUT', `/api/queues/${enc(v)}/from_cega`, { durable: true });
      await m2.request('PUT', `/api/queues/${enc(v)}/to_fega`, { durable: true });
    }
    db = await createMigratedDatabase('crossdock_upobj');
    t = await createTestApp({ DATABASE_URL: db.url });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [va, vi]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [va, vi]);
  });
  afterAll(async () => {
    for (const c of consumers) await c.close().catch(() => undefined);
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) {
      await m?.deleteVhost(va);
      await m?.deleteVhost(vi);
    }
  });

  it('creates, shows, compiles and exports the upstream queue, and messages move', async () => {
    const bad = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'cega-wrong-kind',
        kind: 'queue',
        downstream: { clusterId: dc1.clusterId, vhost: va },
        upstream: { clusterId: dc2.clusterId, vhost: va, exchange: 'to_fega' },
        targets: ['from_cega'],
      })
      .expect(400);
    expect(JSON.stringify(bad.body.errors)).toMatch(/upstream\.exchange/);

    const created = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'cega',
        kind: 'queue',
        downstream: { clusterId: dc1.clusterId, vhost: va },
        upstream: { clusterId: dc2.clusterId, vhost: va, queue: 'to_fega' },
        targets: ['from_cega'],
        settings: { reconnectDelaySeconds: 1 },
      })
      .expect(201);
    expect(created.body.upstream).toEqual({
      clusterId: dc2.clusterId,
      vhost: va,
      exchange: null,
      queue: 'to_fega',
    });
    // dc2 first: it holds the link user the upstream URI logs in as.
    expect(await reconcile(dc2.clusterId)).toMatchObject({ status: 'succeeded' });
    expect(await reconcile(dc1.clusterId)).toMatchObject({ status: 'succeeded' });
    const up = await m1.request<{ value: Record<string, unknown> }>(
      'GET',
      `/api/parameters/federation-upstream/${enc(va)}/crossdock.up.cega`,
    );
    expect(up.value).toMatchObject({ queue: 'to_fega' });

    await provesMessagesMove(va, 'created');

    const file = (
      await t.http.get(`/clusters/${dc1.clusterId}/definitions`).set(admin()).expect(200)
    ).body as {
      parameters: { component: string; vhost: string; value: Record<string, unknown> }[];
    };
    const exported = file.parameters.filter(
      (p) => p.component === 'federation-upstream' && p.vhost === va,
    );
    expect(exported).toEqual([expect.objectContaining({ name: 'crossdock.up.cega' })]);
    expect(exported[0].value).toMatchObject({ queue: 'to_fega' });

    // PATCH: the other kind's field is refused; null goes back to the same-name queue.
    await t.http
      .patch(`/links/federation/${created.body.id}`)
      .set(admin())
      .send({ upstream: { exchange: 'x' } })
      .expect(400);
    const cleared = await t.http
      .patch(`/links/federation/${created.body.id}`)
      .set(admin())
      .send({ upstream: { queue: null } })
      .expect(200);
    expect(cleared.body.upstream).toMatchObject({ queue: null });
    expect(await reconcile(dc1.clusterId)).toMatchObject({ status: 'succeeded' });
    const after = await m1.request<{ value: Record<string, unknown> }>(
      'GET',
      `/api/parameters/federation-upstream/${enc(va)}/crossdock.up.cega`,
    );
    expect(after.value).not.toHaveProperty('queue');
  });

  it('adopts a hand-written upstream with a queue key, and it still moves messages', async () => {
    const l2 = site(state, 'dc2').link;
    const adminUri = `amqp://${enc(state.admin.username)}:${enc(state.admin.password)}@${l2.host}:${l2.port}/${enc(vi)}`;
    await m1.request('PUT', `/api/parameters/federation-upstream/${enc(vi)}/cega-upstream`, {
      value: { uri: adminUri, queue: 'to_fega', 'reconnect-delay': 1 },
    });
    await m1.request('PUT', `/api/policies/${enc(vi)}/fed-from-cega`, {
      pattern: '^from_cega$',
      definition: { 'federation-upstream': 'cega-upstream' },
      priority: 1,
      'apply-to': 'queues',
    });
    await provesMessagesMove(vi, 'hand-written');

    const preview = await t.http
      .post(`/clusters/${dc1.clusterId}/import`)
      .set(admin())
      .send({ dryRun: true, vhosts: [vi] })
      .expect(200);
    const verdicts = Object.fromEntries(
      (preview.body.items as { kind: string; name: string; action: string; reason: string }[]).map(
        (i) => [`${i.kind} ${i.name}`, `${i.action}: ${i.reason}`],
      ),
    );
    expect(verdicts).toEqual({
      'federation-upstream cega-upstream': expect.stringMatching(/^adopt: /),
      'policy fed-from-cega': expect.stringMatching(/^adopt: /),
    });
    expect(preview.text).not.toContain(state.admin.password);

    const done = await t.http
      .post(`/clusters/${dc1.clusterId}/import`)
      .set(admin())
      .send({ dryRun: false, vhosts: [vi] })
      .expect(200);
    expect(done.body.created).toEqual([
      expect.objectContaining({ type: 'federation-link', name: 'cega-upstream' }),
    ]);
    const links = (
      await t.http.get('/links/federation').query({ name: 'cega-upstream' }).set(admin())
    ).body.items as { kind: string; upstream: Record<string, unknown>; targets: string[] }[];
    expect(links).toEqual([
      expect.objectContaining({
        kind: 'queue',
        targets: ['from_cega'],
        upstream: { clusterId: dc2.clusterId, vhost: vi, exchange: null, queue: 'to_fega' },
      }),
    ]);

    expect(await reconcile(dc2.clusterId)).toMatchObject({ status: 'succeeded' });
    expect(await reconcile(dc1.clusterId)).toMatchObject({ status: 'succeeded' });
    const adopted = await m1.request<{ value: Record<string, unknown> }>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vi)}/cega-upstream`,
    );
    // Taken over: crossdock's link user instead of the admin, the queue key kept.
    expect(adopted.value).toMatchObject({ queue: 'to_fega' });
    expect(JSON.stringify(adopted.value)).not.toContain(state.admin.password);
    expect((await m1.request<unknown[]>('GET', `/api/policies/${enc(vi)}`)).length).toBe(1);

    await provesMessagesMove(vi, 'adopted');
  });
});
