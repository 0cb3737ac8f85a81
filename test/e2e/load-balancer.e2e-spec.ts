import { connect, type ChannelModel } from 'amqplib';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { freePort } from '../helpers/ports';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { rabbitmqctl } from '../helpers/rabbitmqctl';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  TestManagement,
  type SitesState,
} from '../helpers/sites';
import { createOrdersFederation, plantOrders } from '../helpers/two-sites';

const enc = encodeURIComponent;

/** keepalived refuses loopback for VRRP: the config test needs a real interface of this machine. */
function vrrpInterface(): string {
  const route = spawnSync('ip', ['-o', 'route', 'show', 'default'], { encoding: 'utf8' }).stdout;
  return /\bdev (\S+)/.exec(route ?? '')?.[1] ?? 'eth0';
}
const admin = () => bearer(bootstrapToken());

/** HAProxy's own view of its servers (`/stats;csv`): `backend/server` -> status (UP, DOWN, ...). */
async function haproxyStatus(statsPort: number): Promise<Record<string, string>> {
  const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text();
  const [header, ...rows] = csv.trim().split('\n');
  const cols = header.replace(/^# /, '').split(',');
  const at = (name: string) => cols.indexOf(name);
  const out: Record<string, string> = {};
  for (const r of rows) {
    const f = r.split(',');
    out[`${f[at('pxname')]}/${f[at('svname')]}`] = f[at('status')];
  }
  return out;
}

/**
 * A site's load balancer rendered from the registry and run for real: HAProxy in front of dc1's
 * two nodes, dc2's federation link to dc1 through it, one dc1 node stopped under traffic.
 */
describe('site load balancer (real HAProxy, keepalived config test)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let haproxy: ChildProcess | undefined;
  let stopped: string | undefined;
  const open: ChannelModel[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'crossdock-lb-'));
  const vhost = `lb-${randomBytes(3).toString('hex')}`;
  const ports = { amqp: 0, management: 0, stats: 0 };

  const lbBody = () => ({
    clusterId: dc1.clusterId,
    virtualIp: '127.0.0.10',
    address: '127.0.0.1',
    interface: vrrpInterface(),
    bindAddress: '127.0.0.1',
    amqpPort: ports.amqp,
    managementPort: ports.management,
    statsPort: ports.stats,
    hosts: [{ name: 'lb1', address: '127.0.0.11' }],
    healthCheck: { intervalMs: 500, rise: 1, fall: 2 },
  });

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_lb');
    t = await createTestApp({ DATABASE_URL: db.url, RECONCILE_INTERVAL_MS: '0' });
    // The federation backlog queue is mirrored on dc1, so a node can stop without losing it.
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost], {
      replication: [
        { pattern: '^federation: ', mode: 'classic', haMode: 'all', haSyncMode: 'automatic' },
      ],
    });
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]);
    ports.amqp = await freePort();
    ports.management = await freePort();
    ports.stats = await freePort();
  });
  afterAll(async () => {
    for (const c of open) await c.close().catch(() => undefined);
    haproxy?.kill('SIGKILL');
    if (stopped) await rabbitmqctl(state, stopped, 'start_app').catch(() => undefined);
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders files that haproxy -c and keepalived --config-test accept, and points links at it', async () => {
    const put = await t.http
      .put(`/sites/${dc1.siteId}/load-balancer`)
      .set(admin())
      .send(lbBody())
      .expect(200);
    expect(put.body).toMatchObject({ address: '127.0.0.1', amqpPort: ports.amqp, version: 1 });
    const siteView = await t.http.get(`/sites/${dc1.siteId}`).set(admin()).expect(200);
    expect(siteView.body.loadBalancer).toEqual({ host: '127.0.0.1', port: ports.amqp });

    const cfg = await t.http
      .get(`/sites/${dc1.siteId}/load-balancer/haproxy.cfg`)
      .set(admin())
      .expect(200);
    expect(cfg.headers['content-type']).toMatch(/^text\/plain/);
    for (const n of site(state, 'dc1').nodes) expect(cfg.text).toContain(`${n.host}:${n.amqpPort}`);
    writeFileSync(join(dir, 'haproxy.cfg'), cfg.text);
    const hc = spawnSync('/usr/sbin/haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], {
      encoding: 'utf8',
    });
    expect({ status: hc.status, out: hc.stdout + hc.stderr }).toMatchObject({ status: 0 });

    const ka = await t.http
      .get(`/sites/${dc1.siteId}/load-balancer/keepalived.conf`)
      .set(admin())
      .expect(200);
    writeFileSync(join(dir, 'keepalived.conf'), ka.text);
    const kc = spawnSync(
      '/usr/sbin/keepalived',
      ['--config-test', '-f', join(dir, 'keepalived.conf')],
      { encoding: 'utf8' },
    );
    expect({ status: kc.status, out: kc.stdout + kc.stderr }).toMatchObject({ status: 0 });
    expect(ka.text).toContain('virtual_ipaddress {\n    127.0.0.10\n  }');

    // A broken file is refused by the same checks (they are not vacuous).
    writeFileSync(join(dir, 'broken.cfg'), cfg.text.replace('balance leastconn', 'balance nope'));
    expect(spawnSync('/usr/sbin/haproxy', ['-c', '-f', join(dir, 'broken.cfg')]).status).not.toBe(
      0,
    );
  });

  it('keeps federated traffic moving through the other node when one stops, nothing lost', async () => {
    haproxy = spawn('/usr/sbin/haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], {
      stdio: 'ignore',
    });
    const servers = site(state, 'dc1').nodes.map((n) => n.name.replace(/@/g, '_at_'));
    await eventually(
      async () => {
        const st = await haproxyStatus(ports.stats);
        return servers.every((s) => st[`rabbitmq_amqp/${s}`] === 'UP');
      },
      { timeoutMs: 15000, description: 'HAProxy marks both dc1 nodes up' },
    );

    await plantOrders(m1, m2, vhost);
    const linkId = await createOrdersFederation(t.http, { dc1, dc2 }, vhost);
    for (const c of [dc1, dc2]) {
      const run = await t.http.post('/reconcile').set(admin()).send({ clusterId: c.clusterId });
      expect(run.status).toBe(200);
      expect(run.body.runs[0].status).toBe('succeeded');
    }
    const upstream = await m2.request<{ value: { uri: string[] | string } }>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vhost)}/crossdock.up.orders`,
    );
    expect(JSON.stringify(upstream.value.uri)).toContain(`@127.0.0.1:${ports.amqp}/`);
    expect(linkId).toBeTruthy();

    type Q = {
      name: string;
      node: string;
      slave_nodes?: string[];
      synchronised_slave_nodes?: string[];
    };
    const backlog = await eventually(
      async () => {
        const qs = await m1.request<Q[]>('GET', `/api/queues/${enc(vhost)}`);
        const q = qs.find((x) => x.name.startsWith('federation: orders'));
        return q && (q.synchronised_slave_nodes ?? []).length === 1 ? q : false;
      },
      { timeoutMs: 30000, description: 'mirrored federation backlog queue on dc1' },
    );
    await eventually(
      async () => {
        const b = await m1.request<{ destination: string }[]>(
          'GET',
          `/api/exchanges/${enc(vhost)}/orders/bindings/source`,
        );
        return b.some((x) => x.destination.startsWith('federation: orders'));
      },
      { timeoutMs: 30000, description: 'federation binding on the upstream exchange' },
    );

    const survivor = site(state, 'dc1').nodes.find((n) => n.name !== backlog.node)!;
    const url = (h: string, p: number) =>
      `amqp://${enc(state.admin.username)}:${enc(state.admin.password)}@${h}:${p}/${enc(vhost)}`;
    const pub = await connect(url(survivor.host, survivor.amqpPort));
    pub.on('error', () => undefined);
    open.push(pub);
    const pch = await pub.createConfirmChannel();
    const dc2node = site(state, 'dc2').nodes[0];
    const sub = await connect(url(dc2node.host, dc2node.amqpPort));
    sub.on('error', () => undefined);
    open.push(sub);
    const sch = await sub.createChannel();
    const got = new Set<string>();
    await sch.consume('orders.dc2', (msg) => msg && got.add(msg.content.toString()), {
      noAck: true,
    });

    const total = 300;
    const confirmed: string[] = [];
    for (let i = 0; i < total; i++) {
      const id = `m${i}`;
      await new Promise<void>((resolve, reject) =>
        pch.publish('orders', '', Buffer.from(id), { persistent: true }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      confirmed.push(id);
      if (i === 100) {
        stopped = backlog.node;
        await rabbitmqctl(state, stopped, 'stop_app');
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(confirmed).toHaveLength(total);

    const down = servers.find((s) => s === stopped!.replace(/@/g, '_at_'))!;
    await eventually(
      async () => (await haproxyStatus(ports.stats))[`rabbitmq_amqp/${down}`]?.startsWith('DOWN'),
      { timeoutMs: 15000, description: 'HAProxy marks the stopped node down' },
    );
    await eventually(() => confirmed.every((id) => got.has(id)), {
      timeoutMs: 60000,
      description: `all ${total} confirmed messages at dc2 (have ${got.size})`,
    });

    // The link reached dc1 through HAProxy, now on the surviving node only.
    const idx = site(state, 'dc1').nodes.indexOf(survivor);
    const conns = await TestManagement.forSite(state, 'dc1', idx).request<
      { user: string; node: string; peer_host: string }[]
    >('GET', '/api/connections');
    const linkConns = conns.filter((c) => c.user.startsWith('crossdock-link'));
    expect(linkConns.length).toBeGreaterThan(0);
    expect(linkConns.every((c) => c.node === survivor.name)).toBe(true);

    await rabbitmqctl(state, stopped!, 'start_app');
    stopped = undefined;
    await eventually(
      async () => (await haproxyStatus(ports.stats))[`rabbitmq_amqp/${down}`] === 'UP',
      { timeoutMs: 30000, description: 'HAProxy marks the node up again' },
    );
  });

  it('adding a node changes the rendered backend and its ETag; the change is audited', async () => {
    const path = `/sites/${dc1.siteId}/load-balancer/haproxy.cfg`;
    const before = await t.http.get(path).set(admin()).expect(200);
    const etag = before.headers.etag as string;
    expect(etag).toMatch(/^"/);
    await t.http.get(path).set(admin()).set('If-None-Match', etag).expect(304);

    const node = await t.http
      .post(`/clusters/${dc1.clusterId}/nodes`)
      .set(admin())
      .send({ name: 'rabbit@spare', host: '127.0.0.1', amqpPort: 1, managementPort: 2 })
      .expect(201);
    const after = await t.http.get(path).set(admin()).set('If-None-Match', etag).expect(200);
    expect(after.headers.etag).not.toBe(etag);
    expect(after.text).toContain('server rabbit_at_spare 127.0.0.1:1');
    const audit = await t.http
      .get('/audit')
      .query({ action: 'site.load-balancer.render' })
      .set(admin())
      .expect(200);
    expect(
      audit.body.items.some((e: { resource: { id: string } }) => e.resource.id === dc1.siteId),
    ).toBe(true);

    await t.http
      .delete(`/clusters/${dc1.clusterId}/nodes/${node.body.id}`)
      .set(admin())
      .expect(204);
    const back = await t.http.get(path).set(admin()).expect(200);
    expect(back.headers.etag).toBe(etag);
  });

  it('refuses bad load balancers with field errors', async () => {
    const res = await t.http
      .put(`/sites/${dc1.siteId}/load-balancer`)
      .set(admin())
      .send({
        ...lbBody(),
        managementPort: ports.amqp,
        hosts: [
          { name: 'lb1', address: '127.0.0.11' },
          { name: 'lb1', address: '127.0.0.11' },
        ],
      })
      .expect(400);
    const fields = (res.body.errors as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(['hosts.1.address', 'hosts.1.name', 'managementPort'].sort());
    await t.http
      .get(`/sites/${dc1.siteId}/load-balancer/keepalived.conf`)
      .query({ host: 'lb9' })
      .set(admin())
      .expect(400);
  });
});
