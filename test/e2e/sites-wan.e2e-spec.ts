import { connect, type Channel, type ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { controlRequest } from '../fixtures/wan-proxy';
import { eventually } from '../helpers/eventually';
import { loadSites, site, TestManagement, type LocalSite, type SitesState } from '../helpers/sites';

/** Local sites (scripts/sites) and the WAN proxy daemon in front of their link addresses. */
describe('local sites and the WAN proxy', () => {
  let state: SitesState;
  let dc1: LocalSite;
  let mgmt: TestManagement;
  let vhost: string;
  const open: ChannelModel[] = [];

  const amqpUrl = (host: string, port: number) =>
    `amqp://${encodeURIComponent(state.admin.username)}:${encodeURIComponent(state.admin.password)}@${host}:${port}/${encodeURIComponent(vhost)}?heartbeat=5`;
  async function conn(host: string, port: number): Promise<ChannelModel> {
    const c = await connect(amqpUrl(host, port), { timeout: 3000 });
    c.on('error', () => undefined);
    open.push(c);
    return c;
  }
  const ctl = (method: string, path: string, json?: unknown) =>
    controlRequest(state.wanProxy.controlPort, method, path, { json });

  beforeAll(async () => {
    state = loadSites();
    dc1 = site(state, 'dc1');
    mgmt = TestManagement.forSite(state, 'dc1');
    vhost = await mgmt.createVhost('wan');
  });
  afterEach(async () => {
    await ctl('POST', '/proxies/dc1/restore');
    await ctl('PUT', '/proxies/dc1/latency', { upstreamMs: 0, downstreamMs: 0 });
  });
  afterAll(async () => {
    // A blackholed connection never answers close: give it a moment, then drop the socket.
    for (const c of open) {
      const closed = await Promise.race([
        c.close().then(
          () => true,
          () => true,
        ),
        new Promise<boolean>((r) => setTimeout(() => r(false), 500)),
      ]);
      if (!closed) (c.connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
    }
    await mgmt.deleteVhost(vhost);
  });

  it('runs two clusters with all nodes running and distinct cluster names', async () => {
    const names = new Set<string>();
    for (const s of state.sites.slice(0, 2)) {
      const m = TestManagement.forSite(state, s.name);
      const nodes = await m.request<{ name: string; running: boolean }[]>('GET', '/api/nodes');
      expect(nodes.map((n) => n.name).sort()).toEqual(s.nodes.map((n) => n.name).sort());
      expect(nodes.every((n) => n.running)).toBe(true);
      const { name } = await m.request<{ name: string }>('GET', '/api/cluster-name');
      expect(name).toBe(s.clusterName);
      names.add(name);
    }
    expect(names.size).toBe(2);
  });

  /** Publishes through the link address, receives on the control address: one clock. */
  async function crossingTimes(samples: number): Promise<number[]> {
    const queue = `lat-${randomBytes(3).toString('hex')}`;
    const direct = await (await conn(dc1.nodes[0].host, dc1.nodes[0].amqpPort)).createChannel();
    await direct.assertQueue(queue, { autoDelete: false });
    const viaWan = await (await conn(dc1.link.host, dc1.link.port)).createConfirmChannel();
    const times: number[] = [];
    const sent = new Map<string, number>();
    const got = new Promise<void>((resolve) => {
      void direct.consume(
        queue,
        (msg) => {
          if (!msg) return;
          const t0 = sent.get(msg.content.toString());
          if (t0 !== undefined) times.push(performance.now() - t0);
          if (times.length === samples) resolve();
        },
        { noAck: true },
      );
    });
    for (let i = 0; i < samples; i++) {
      const id = `m${i}`;
      sent.set(id, performance.now());
      viaWan.sendToQueue(queue, Buffer.from(id));
      await new Promise((r) => setTimeout(r, 20));
    }
    await got;
    await direct.deleteQueue(queue);
    return times.sort((a, b) => a - b);
  }
  const median = (xs: number[]) => xs[Math.floor(xs.length / 2)];

  it('adds the configured one-way latency to traffic crossing the link address', async () => {
    const baseline = median(await crossingTimes(15));
    for (const added of [50, 200]) {
      const res = await ctl('PUT', '/proxies/dc1/latency', { upstreamMs: added, downstreamMs: 0 });
      expect(res.status).toBe(200);
      const measured = median(await crossingTimes(15)) - baseline;
      console.log(
        `WAN proxy: configured ${added} ms, measured ${measured.toFixed(1)} ms (baseline ${baseline.toFixed(1)} ms)`,
      );
      expect(Math.abs(measured - added)).toBeLessThanOrEqual(added * 0.2 + 5);
    }
  });

  async function flows(ch: Channel, queue: string, body: string): Promise<boolean> {
    ch.sendToQueue(queue, Buffer.from(body));
    const direct = await (await conn(dc1.nodes[0].host, dc1.nodes[0].amqpPort)).createChannel();
    try {
      const m = await eventually(async () => (await direct.get(queue, { noAck: true })) || false, {
        timeoutMs: 1500,
        intervalMs: 50,
      }).catch(() => false);
      return m !== false;
    } finally {
      await direct.close().catch(() => undefined);
    }
  }

  it.each(['reset', 'blackhole'] as const)(
    'a %s cut stops traffic and restore resumes it',
    async (mode) => {
      const queue = `cut-${mode}-${randomBytes(3).toString('hex')}`;
      const setup = await (await conn(dc1.nodes[0].host, dc1.nodes[0].amqpPort)).createChannel();
      await setup.assertQueue(queue);
      const before = await conn(dc1.link.host, dc1.link.port);
      const ch = await before.createChannel();
      ch.on('error', () => undefined);
      expect(await flows(ch, queue, 'before')).toBe(true);

      expect((await ctl('POST', '/proxies/dc1/cut', { mode })).status).toBe(200);
      if (mode === 'reset') {
        await eventually(
          () =>
            new Promise<boolean>((r) => {
              before.once('close', () => r(true));
              setTimeout(() => r(false), 500);
            }),
          { timeoutMs: 3000 },
        ).catch(() => undefined);
      } else {
        // Sockets stay open and silent: what is sent is lost on the wire.
        expect(await flows(ch, queue, 'during')).toBe(false);
      }
      const started = Date.now();
      await expect(
        connect(amqpUrl(dc1.link.host, dc1.link.port), { timeout: 1500 }),
      ).rejects.toBeDefined();
      expect(Date.now() - started).toBeLessThan(5000);

      expect((await ctl('POST', '/proxies/dc1/restore')).status).toBe(200);
      const after = await (await conn(dc1.link.host, dc1.link.port)).createChannel();
      expect(await flows(after, queue, 'after')).toBe(true);
      await setup.deleteQueue(queue);
    },
  );
});
