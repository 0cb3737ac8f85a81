import { connect, type ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  type SitesState,
  type TestManagement,
} from '../helpers/sites';

const enc = encodeURIComponent;

async function open(uri: string, connectionName?: string): Promise<ChannelModel> {
  const conn = await connect(uri, {
    timeout: 5000,
    ...(connectionName ? { clientProperties: { connection_name: connectionName } } : {}),
  });
  conn.on('error', () => undefined);
  return conn;
}

/** Resolves when an AMQP login with this URI works, rejects with the broker's refusal. */
const login = async (uri: string) => (await open(uri)).close();

interface RotationView {
  status: string;
  lastError: string | null;
  appliedBy: { clusterId: string }[];
  waitingFor: { clusterId: string }[];
  verifiedAt: string | null;
}
interface LinkUserBody {
  username: string;
  rotation: RotationView | null;
}

/**
 * Link-user rotation with the real trigger chain (reconcile on change, no schedule): the
 * upstream cluster writes and proves a second user, the downstream switches its URIs, and the
 * previous user goes only once nobody logs in with it any more. A federation link carries
 * messages the whole time.
 */
describe('link-user password rotation', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `rot-${randomBytes(3).toString('hex')}`;
  const linkUser = `rot-link-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const upstreamUri = async () =>
    (
      await m2.request<{ value: { uri: string[] } }>(
        'GET',
        `/api/parameters/federation-upstream/${enc(vhost)}/crossdock.up.orders`,
      )
    ).value.uri[0];
  const linkUserState = async (): Promise<LinkUserBody> =>
    (await t.http.get(`/clusters/${dc1.clusterId}/link-user`).set(admin()).expect(200)).body;
  const secretOf = (uri: string) => decodeURIComponent(new URL(uri).password);
  const auditActions = async () =>
    (
      await t.http
        .get('/audit')
        .query({ clusterId: dc1.clusterId, limit: 200 })
        .set(admin())
        .expect(200)
    ).body.items as { action: string }[];

  /** Publishes at dc1 until stopped; every payload must reach dc2. */
  function publisher() {
    let sent = 0;
    let unroutable = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        const r = await m1.request<{ routed: boolean }>(
          'POST',
          `/api/exchanges/${enc(vhost)}/orders/publish`,
          {
            properties: { delivery_mode: 2 },
            routing_key: '',
            payload: `${vhost}-${Date.now()}-${sent}`,
            payload_encoding: 'string',
          },
        );
        if (!r.routed) unroutable += 1;
        sent += 1;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    return {
      sent: () => sent,
      /** Stops; every publish was routed upstream (a link restart can drop some: not here). */
      stop: async () => {
        running = false;
        await loop;
        expect(unroutable).toBe(0);
        return sent;
      },
    };
  }
  async function expectAllArrive(sent: number): Promise<void> {
    const got = new Set<string>();
    await eventually(
      async () => {
        const msgs = await m2.request<{ payload: string }[]>(
          'POST',
          `/api/queues/${enc(vhost)}/orders.dc2/get`,
          { count: 1000, ackmode: 'ack_requeue_false', encoding: 'auto' },
        );
        for (const m of msgs) got.add(m.payload);
        return got.size >= sent;
      },
      { timeoutMs: 60000, intervalMs: 500, description: `all ${sent} messages at dc2` },
    );
    expect(got.size).toBe(sent);
  }

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_rotation');
    t = await createTestApp({
      DATABASE_URL: db.url,
      LINK_USER_NAME: linkUser,
      RECONCILE_ENABLED: 'true',
      RECONCILE_INTERVAL_MS: '0',
      RECONCILE_DEBOUNCE_MS: '100',
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
      .expect(201);
    // The change reconciles the link onto both clusters; the link binds upstream.
    await eventually(
      async () =>
        (
          await m1.request<{ destination: string }[]>(
            'GET',
            `/api/exchanges/${enc(vhost)}/orders/bindings/source`,
          )
        ).some((b) => b.destination.startsWith('federation:')),
      { timeoutMs: 30000, description: 'federation binding upstream' },
    );
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) {
      await m?.deleteVhost(vhost);
      for (const u of [linkUser, `${linkUser}-b`])
        await m?.request('DELETE', `/api/users/${u}`).catch(() => undefined);
    }
  });

  it('keeps the link moving through a rotation, then the old credential is refused', async () => {
    const oldUri = await upstreamUri();
    expect(oldUri).toContain(`amqp://${linkUser}:`);
    expect(await linkUserState()).toMatchObject({
      username: linkUser,
      vhosts: [vhost],
      connectingClusters: [{ clusterId: dc2.clusterId }],
      rotation: null,
    });

    const pub = publisher();
    await eventually(() => pub.sent() >= 30, { description: 'publishing started' });
    const started = await t.http
      .post(`/clusters/${dc1.clusterId}/link-user/rotate`)
      .set(admin())
      .expect(202);
    expect(started.body.rotation).toMatchObject({
      status: 'verifying',
      fromUsername: linkUser,
      toUsername: `${linkUser}-b`,
    });
    const again = await t.http.post(`/clusters/${dc1.clusterId}/link-user/rotate`).set(admin());
    expect(again.status).toBe(409);
    expect(again.headers['content-type']).toContain('application/problem+json');

    const done = await eventually(
      async () => {
        const s = await linkUserState();
        return s.rotation?.status === 'completed' ? s : false;
      },
      { timeoutMs: 90000, intervalMs: 100, description: 'rotation completed' },
    );
    expect(done).toMatchObject({
      username: `${linkUser}-b`,
      rotation: { appliedBy: [{ clusterId: dc2.clusterId }], waitingFor: [], lastError: null },
    });
    expect(done.rotation?.verifiedAt).not.toBeNull();
    await new Promise((r) => setTimeout(r, 1000));
    // Every message published before, during and after the rotation arrives.
    await expectAllArrive(await pub.stop());

    // The URIs carry the new user; the old credential is refused, the new one works.
    const newUri = await upstreamUri();
    expect(newUri).toContain(`amqp://${linkUser}-b:`);
    await expect(login(oldUri)).rejects.toThrow(/ACCESS.REFUSED|403/);
    await login(newUri);
    await expect(m1.request('GET', `/api/users/${linkUser}`)).rejects.toThrow(/404/);
    const links = await m2.request<{ status: string }[]>(
      'GET',
      `/api/federation-links/${enc(vhost)}`,
    );
    expect(links.map((l) => l.status)).toEqual(['running']);

    // Audited step by step; no password in responses, audit or logs.
    const audit = await auditActions();
    expect(audit.map((e) => e.action)).toEqual(
      expect.arrayContaining([
        'cluster.link-user.rotate',
        'cluster.link-user.write',
        'cluster.link-user.rotation.switch',
        'cluster.link-user.rotation.applied',
        'cluster.link-user.delete.succeeded',
        'cluster.link-user.rotation.complete',
      ]),
    );
    const exposed = [
      JSON.stringify(audit),
      JSON.stringify(done),
      JSON.stringify(started.body),
      readFileSync(t.logFile, 'utf8'),
    ].join('\n');
    for (const uri of [oldUri, newUri]) expect(exposed).not.toContain(secretOf(uri));
  }, 180000);

  it('keeps the previous user while a connection still logs in with it, restarting the link it names', async () => {
    const oldUri = await upstreamUri();
    expect(oldUri).toContain(`amqp://${linkUser}-b:`);
    // A connection on the previous credential that names the crossdock upstream, as a link does
    // when the broker stored its new URI without restarting it.
    const straggler = await open(
      oldUri,
      'Federation link (upstream: crossdock.up.orders, policy: stale)',
    );
    const pub = publisher();
    try {
      await t.http.post(`/clusters/${dc1.clusterId}/link-user/rotate`).set(admin()).expect(202);
      const stuck = await eventually(
        async () => {
          // The drift schedule's pass (off in this app): the connection listing lags a little.
          await t.http.post('/reconcile').set(admin()).send({ clusterId: dc1.clusterId });
          const s = await linkUserState();
          const refreshed = (await auditActions()).some(
            (e) => e.action === 'reconcile.refresh.succeeded',
          );
          return s.rotation?.status === 'switching' &&
            (s.rotation.lastError ?? '').includes(`still log in as ${linkUser}-b`) &&
            refreshed
            ? s
            : false;
        },
        { timeoutMs: 60000, intervalMs: 200, description: 'rotation waiting on the straggler' },
      );
      // The URIs switched back to the base user, the previous one stays for the straggler.
      expect(stuck.username).toBe(linkUser);
      expect(stuck.rotation?.waitingFor).toEqual([]);
      await m1.request('GET', `/api/users/${linkUser}-b`);
      expect(await upstreamUri()).toContain(`amqp://${linkUser}:`);
    } finally {
      await straggler.close().catch(() => undefined);
    }
    // Nobody logs in with it any more: the next pass (the drift schedule in production) retires it.
    await eventually(
      async () => {
        await t.http.post('/reconcile').set(admin()).send({ clusterId: dc1.clusterId });
        return (await linkUserState()).rotation?.status === 'completed';
      },
      { timeoutMs: 30000, intervalMs: 500, description: 'rotation completed' },
    );
    await expect(m1.request('GET', `/api/users/${linkUser}-b`)).rejects.toThrow(/404/);
    expect((await auditActions()).map((e) => e.action)).toEqual(
      expect.arrayContaining([
        'cluster.link-user.rotation.refresh-requested',
        'reconcile.refresh.intent',
        'reconcile.refresh.succeeded',
      ]),
    );
    await expect(login(oldUri)).rejects.toThrow(/ACCESS.REFUSED|403/);
    await new Promise((r) => setTimeout(r, 1000));
    // The refreshed upstream restarted the link: nothing published meanwhile was lost.
    await expectAllArrive(await pub.stop());
  }, 180000);
});
