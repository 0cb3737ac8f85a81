import { randomBytes } from 'node:crypto';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import { reconcileClusters } from '../helpers/two-sites';
import {
  createSharedVhost,
  loadSites,
  site,
  TestManagement,
  type SitesState,
} from '../helpers/sites';

const enc = encodeURIComponent;

interface BrokerLinkRow {
  id: string;
  node: string;
  upstream: string;
  exchange?: string;
  status: string;
  timestamp: string;
  local_connection?: string;
}

interface ConnectionRow {
  name: string;
  vhost: string;
  connected_at: number;
}

/**
 * Issue #14 item 5: one exchange at dc2 federated from two upstreams (dc1's vhosts A and B, two
 * registry links, two broker links on the same exchange). Restarting link A restarts only its
 * broker link: A's upstream connection is replaced, B's connection and status timestamp stay
 * exactly as they were; both restarts are in the audit trail with the nodes they ran on.
 */
describe('restart one link (issue #14)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const suffix = randomBytes(3).toString('hex');
  const vhost = `restart-${suffix}`;
  const vhostA = `restart-a-${suffix}`;
  const vhostB = `restart-b-${suffix}`;
  const admin = () => bearer(bootstrapToken());

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    await createSharedVhost(state, ['dc1'], vhostA);
    await createSharedVhost(state, ['dc1'], vhostB);
    db = await createMigratedDatabase('crossdock_restart');
    t = await createTestApp({ DATABASE_URL: db.url });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost, vhostA, vhostB]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]);
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    await m2?.deleteVhost(vhost);
    for (const v of [vhost, vhostA, vhostB]) await m1?.deleteVhost(v);
  });

  const linkRows = () => m2.request<BrokerLinkRow[]>('GET', `/api/federation-links/${enc(vhost)}`);
  const connectionsIn = async (v: string) =>
    (await m1.request<ConnectionRow[]>('GET', '/api/connections')).filter((c) => c.vhost === v);
  const audit = async (action: string, id: string) =>
    (await t.http.get('/audit').query({ action, resourceId: id }).set(admin()).expect(200)).body
      .items as { action: string; payload?: unknown; details?: unknown }[];

  it('restarts only the chosen federation link: new connection for it, the sibling untouched', async () => {
    for (const [m, v] of [
      [m1, vhostA],
      [m1, vhostB],
      [m2, vhost],
    ] as const)
      await m.request('PUT', `/api/exchanges/${enc(v)}/orders`, { type: 'fanout', durable: true });
    const ids: Record<'a' | 'b', string> = { a: '', b: '' };
    const runningOn = (count: number) =>
      eventually(
        async () => {
          const rows = (await linkRows()).filter((r) => r.exchange === 'orders');
          const conns = [...(await connectionsIn(vhostA)), ...(await connectionsIn(vhostB))];
          if (rows.length !== count || rows.some((r) => r.status !== 'running'))
            throw new Error(`links ${JSON.stringify(rows)}, ${conns.length} connection(s)`);
          return conns.length === count ? rows : false;
        },
        { timeoutMs: 30000, intervalMs: 250, description: `${count} running link(s) on orders` },
      );
    // One upstream after the other, each converged before the next.
    for (const [key, upstreamVhost] of [
      ['a', vhostA],
      ['b', vhostB],
    ] as const) {
      const res = await t.http
        .post('/links/federation')
        .set(admin())
        .send({
          name: `orders-${key}`,
          kind: 'exchange',
          downstream: { clusterId: dc2.clusterId, vhost },
          upstream: { clusterId: dc1.clusterId, vhost: upstreamVhost },
          targets: ['orders'],
          settings: { reconnectDelaySeconds: 1 },
        })
        .expect(201);
      ids[key] = res.body.id as string;
      await reconcileClusters(t.http, [dc1, dc2]);
      await runningOn(key === 'a' ? 1 : 2);
    }
    // Two running broker links on `orders`, one per upstream, and one connection per upstream vhost.
    const running = await runningOn(2);
    const upstreams = new Set(running.map((r) => r.upstream));
    expect(upstreams.size).toBe(2);
    const [connA] = await connectionsIn(vhostA);
    const [connB] = await connectionsIn(vhostB);
    const statusA = (await t.http.get(`/links/federation/${ids.a}/status`).set(admin()).expect(200))
      .body as { broker: { object: string }[] };
    expect(statusA.broker.map((b) => b.object)).toEqual(['orders']);
    const rowB = async () => {
      const rows = await linkRows();
      const mine = rows.filter((r) => r.upstream.includes('orders-b'));
      expect(mine).toHaveLength(1);
      return mine[0];
    };
    const beforeB = await rowB();
    // Status timestamps have one-second resolution: a restart of B would show.
    await new Promise((r) => setTimeout(r, 1100));

    const res = await t.http.post(`/links/federation/${ids.a}/restart`).set(admin()).expect(200);
    expect(res.body).toMatchObject({
      linkId: ids.a,
      kind: 'federation',
      name: 'orders-a',
      clusterId: dc2.clusterId,
      vhost,
    });
    const rowA = running.find((r) => r.upstream.includes('orders-a')) as BrokerLinkRow;
    expect(res.body.brokerLinks).toEqual([
      { node: rowA.node, object: 'orders', brokerLinkId: rowA.id, restarted: true },
    ]);

    // A: a new connection from the downstream (the old one is gone); running again.
    await eventually(
      async () => {
        const conns = await connectionsIn(vhostA);
        return conns.length === 1 && conns[0].name !== connA.name;
      },
      { timeoutMs: 20000, intervalMs: 200, description: "link A's new connection" },
    );
    await eventually(
      async () =>
        (await linkRows()).filter((r) => r.status === 'running' && r.exchange === 'orders')
          .length === 2,
      { timeoutMs: 20000, intervalMs: 200, description: 'both links running again' },
    );
    // B: the same connection, the same status timestamp.
    const afterB = await connectionsIn(vhostB);
    expect(afterB.map((c) => [c.name, c.connected_at])).toEqual([[connB.name, connB.connected_at]]);
    const nowB = await rowB();
    expect([nowB.id, nowB.timestamp, nowB.local_connection]).toEqual([
      beforeB.id,
      beforeB.timestamp,
      beforeB.local_connection,
    ]);

    const trail = await audit('federation-link.restart.succeeded', ids.a);
    expect(trail).toHaveLength(1);
    expect(JSON.stringify(trail[0])).toContain(rowA.node);
    expect(await audit('federation-link.restart.intent', ids.a)).toHaveLength(1);
    expect(await audit('federation-link.restart.intent', ids.b)).toHaveLength(0);

    // A paused link has nothing on the broker to restart: 409, nothing audited.
    await t.http.post(`/links/federation/${ids.b}/pause`).set(admin()).expect(200);
    const paused = await t.http.post(`/links/federation/${ids.b}/restart`).set(admin());
    expect(paused.status).toBe(409);
    expect(paused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(await audit('federation-link.restart.intent', ids.b)).toHaveLength(0);
    await t.http
      .post(`/links/federation/00000000-0000-4000-8000-000000000000/restart`)
      .set(admin())
      .expect(404);
  });

  it('restarts one shovel where it runs, audited', async () => {
    for (const m of [m1, m2])
      await m.request('PUT', `/api/queues/${enc(vhost)}/jobs`, { durable: true });
    const created = await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: 'jobs',
        source: { clusterId: dc1.clusterId, vhost, queue: 'jobs' },
        destination: { clusterId: dc2.clusterId, vhost, queue: 'jobs' },
        settings: { reconnectDelaySeconds: 1 },
      })
      .expect(201);
    const id = created.body.id as string;
    await reconcileClusters(t.http, [dc2, dc1]);
    const shovels = () =>
      m1.request<{ name: string; node: string; state: string }[]>(
        'GET',
        `/api/shovels/${enc(vhost)}`,
      );
    // The shovel's own connections (named after it), on either cluster.
    const shovelConnections = async (name: string) => {
      const all: { name: string; client_properties?: unknown }[] = [];
      for (const m of [m1, m2])
        all.push(...(await m.request<typeof all>('GET', '/api/connections')));
      return all.filter((c) => JSON.stringify(c.client_properties ?? {}).includes(name));
    };
    const before = await eventually(
      async () => {
        const listed = await shovels();
        const running = listed.find((s) => s.state === 'running');
        const conns = running ? await shovelConnections(running.name) : [];
        if (!running || conns.length === 0)
          throw new Error(`shovels ${JSON.stringify(listed)}, ${conns.length} connection(s)`);
        return { running, conns };
      },
      { timeoutMs: 30000, intervalMs: 250, description: 'shovel running' },
    );
    const res = await t.http.post(`/links/shovels/${id}/restart`).set(admin()).expect(200);
    expect(res.body).toMatchObject({ linkId: id, kind: 'shovel', clusterId: dc1.clusterId });
    expect(res.body.brokerLinks).toEqual([
      { node: before.running.node, object: before.running.name, restarted: true },
    ]);
    // The shovel's connections are replaced.
    const oldNames = new Set(before.conns.map((c) => c.name));
    await eventually(
      async () => {
        const conns = await shovelConnections(before.running.name);
        const running = (await shovels()).some((s) => s.state === 'running');
        return running && conns.length > 0 && conns.every((c) => !oldNames.has(c.name));
      },
      { timeoutMs: 20000, intervalMs: 200, description: 'shovel reconnected' },
    );
    expect(await audit('shovel.restart.succeeded', id)).toHaveLength(1);
  });
});
