import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  controlRequest,
  parseCliArgs,
  parseSitesState,
  WanProxy,
  WanProxyServer,
  type WanProxyOptions,
} from './fixtures/wan-proxy';

/** Resources of the running test, torn down in reverse order by afterEach. */
let cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  const pending = cleanups.reverse();
  cleanups = [];
  for (const fn of pending) await fn();
});

// Set WAN_PROXY_REPORT=1 to print the measured latencies.
const measurements: string[] = [];
afterAll(() => {
  if (process.env.WAN_PROXY_REPORT === '1' && measurements.length > 0) {
    console.log(`wan-proxy latency measurements:\n${measurements.join('\n')}`);
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

interface ServerSide {
  socket: Socket;
  received: Buffer[];
  /** performance.now() when each chunk arrived. */
  arrivals: number[];
  closed: boolean;
}

interface TestServer {
  port: number;
  connections: ServerSide[];
  text(index?: number): string;
}

/** A local TCP server standing in for a broker node: echo replies, sink only records. */
async function startTestServer(mode: 'echo' | 'sink'): Promise<TestServer> {
  const connections: ServerSide[] = [];
  const server: Server = createServer((socket) => {
    const side: ServerSide = { socket, received: [], arrivals: [], closed: false };
    connections.push(side);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('close', () => (side.closed = true));
    socket.on('data', (chunk: Buffer) => {
      side.arrivals.push(performance.now());
      side.received.push(chunk);
      if (mode === 'echo') socket.write(chunk);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const c of connections) c.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return {
    port: address.port,
    connections,
    text: (index = 0) => Buffer.concat(connections[index]?.received ?? []).toString('utf8'),
  };
}

async function startProxy(options: Omit<WanProxyOptions, 'targets'> & { port: number }) {
  const { port, ...rest } = options;
  const proxy = new WanProxy({ targets: [{ host: '127.0.0.1', port }], ...rest });
  const listenPort = await proxy.start();
  cleanups.push(() => proxy.stop());
  return { proxy, listenPort };
}

interface TestClient {
  socket: Socket;
  received: Buffer[];
  arrivals: number[];
  events: {
    connected: boolean;
    ended: boolean;
    closed: boolean;
    error: NodeJS.ErrnoException | null;
  };
  text(): string;
}

/** Resolves once the TCP connect completes (or fails); events record what happened after. */
async function openClient(port: number): Promise<TestClient> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  const client: TestClient = {
    socket,
    received: [],
    arrivals: [],
    events: { connected: false, ended: false, closed: false, error: null },
    text: () => Buffer.concat(client.received).toString('utf8'),
  };
  socket.on('data', (chunk: Buffer) => {
    client.arrivals.push(performance.now());
    client.received.push(chunk);
  });
  socket.on('end', () => (client.events.ended = true));
  socket.on('error', (err: NodeJS.ErrnoException) => (client.events.error = err));
  cleanups.push(() => void socket.destroy());
  await new Promise<void>((r) => {
    socket.once('connect', () => {
      client.events.connected = true;
      r();
    });
    socket.once('close', () => {
      client.events.closed = true;
      r();
    });
  });
  socket.on('close', () => (client.events.closed = true));
  return client;
}

async function expectEcho(client: TestClient, message: string): Promise<void> {
  const before = client.text().length;
  client.socket.write(message);
  await waitFor(`echo of ${message}`, () => client.text().length >= before + message.length);
  expect(client.text().slice(before)).toBe(message);
}

const tolerance = (expectedMs: number): number => expectedMs * 0.2 + 5;

describe('WanProxy latency', () => {
  it.each([
    [50, 50],
    [200, 200],
    [50, 200],
    [200, 50],
    [0, 120],
  ])('delays upstream by %i ms and downstream by %i ms', async (upstreamMs, downstreamMs) => {
    const server = await startTestServer('echo');
    const { listenPort } = await startProxy({
      port: server.port,
      latency: { upstreamMs, downstreamMs },
    });
    const client = await openClient(listenPort);
    // Medians: one scheduling hiccup on a loaded 2-core CI machine must not fail the test.
    const samples = upstreamMs + downstreamMs > 300 ? 3 : 5;
    const ups: number[] = [];
    const downs: number[] = [];
    const rtts: number[] = [];
    for (let i = 0; i < samples; i++) {
      const message = `ping-${i};`;
      const sentAt = performance.now();
      const serverChunks = server.connections[0]?.arrivals.length ?? 0;
      const clientChunks = client.arrivals.length;
      client.socket.write(message);
      await waitFor(
        'server arrival',
        () => (server.connections[0]?.arrivals.length ?? 0) > serverChunks,
      );
      // The echo server answers synchronously on arrival, so its arrival time is the send time.
      const atServer = server.connections[0].arrivals[serverChunks];
      await waitFor('echo', () => client.arrivals.length > clientChunks, 2_000);
      const atClient = client.arrivals[clientChunks];
      const up = atServer - sentAt;
      const down = atClient - atServer;
      const rtt = atClient - sentAt;
      measurements.push(
        `  up ${upstreamMs}/down ${downstreamMs}: measured up ${up.toFixed(1)} down ${down.toFixed(1)} rtt ${rtt.toFixed(1)} ms`,
      );
      ups.push(up);
      downs.push(down);
      rtts.push(rtt);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    expect(Math.abs(median(ups) - upstreamMs)).toBeLessThanOrEqual(tolerance(upstreamMs));
    expect(Math.abs(median(downs) - downstreamMs)).toBeLessThanOrEqual(tolerance(downstreamMs));
    expect(Math.abs(median(rtts) - (upstreamMs + downstreamMs))).toBeLessThanOrEqual(
      tolerance(upstreamMs + downstreamMs),
    );
    expect(client.text()).toBe(Array.from({ length: samples }, (_, i) => `ping-${i};`).join(''));
  });

  it('keeps many chunks in order, also when latency drops while data is in flight', async () => {
    const server = await startTestServer('sink');
    const { proxy, listenPort } = await startProxy({
      port: server.port,
      latency: { upstreamMs: 60, downstreamMs: 0 },
    });
    const client = await openClient(listenPort);
    let expected = '';
    for (let batch = 0; batch < 20; batch++) {
      // A lower latency must not let later chunks overtake the ones still on the wire.
      if (batch === 10) proxy.setLatency({ upstreamMs: 0 });
      if (batch === 15) proxy.setLatency({ upstreamMs: 25 });
      for (let i = 0; i < 100; i++) {
        const line = `${batch}:${i}\n`;
        expected += line;
        client.socket.write(line);
      }
      await new Promise((r) => setImmediate(r));
    }
    await waitFor('all lines', () => server.text().length >= expected.length);
    expect(server.text()).toBe(expected);
    expect(proxy.stats().bytes.upstream).toBe(Buffer.byteLength(expected));
  });

  it('does not serialise delays: 100 spaced writes at 50 ms each arrive 50 ms after sending', async () => {
    const server = await startTestServer('sink');
    const { listenPort } = await startProxy({
      port: server.port,
      latency: { upstreamMs: 50, downstreamMs: 50 },
    });
    const client = await openClient(listenPort);
    const sentAt: number[] = [];
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      sentAt.push(performance.now());
      client.socket.write(`${i}\n`);
      await sleep(1);
    }
    const expected = Array.from({ length: 100 }, (_, i) => `${i}\n`).join('');
    await waitFor('all writes', () => server.text().length >= expected.length);
    const elapsed = performance.now() - started;
    expect(server.text()).toBe(expected);
    // Serialised delays would need 100 * 50 ms = 5 s.
    expect(elapsed).toBeLessThan(1_000);

    // For every line, the arrival of the chunk that completed it.
    const conn = server.connections[0];
    const lineEnds: number[] = [];
    let end = 0;
    for (let i = 0; i < 100; i++) lineEnds.push((end += `${i}\n`.length));
    const delays: number[] = [];
    let received = 0;
    conn.received.forEach((chunk, idx) => {
      received += chunk.length;
      while (delays.length < 100 && lineEnds[delays.length] <= received) {
        delays.push(conn.arrivals[idx] - sentAt[delays.length]);
      }
    });
    expect(delays).toHaveLength(100);
    measurements.push(
      `  100 spaced writes @50 ms: total ${elapsed.toFixed(0)} ms, per-write delay min ${Math.min(...delays).toFixed(1)} max ${Math.max(...delays).toFixed(1)} ms`,
    );
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(45);
    expect(Math.max(...delays)).toBeLessThanOrEqual(50 + tolerance(50) + 20);
  });

  it('pauses the sender instead of buffering without bound when the receiver stalls', async () => {
    const server = await startTestServer('sink');
    const maxBufferedBytes = 256 * 1024;
    const { proxy, listenPort } = await startProxy({
      port: server.port,
      latency: { upstreamMs: 2, downstreamMs: 0 },
      maxBufferedBytes,
    });
    const client = await openClient(listenPort);
    await waitFor('server side', () => server.connections.length === 1);
    server.connections[0].socket.pause();

    const chunk = 64 * 1024;
    // Well beyond what the kernel buffers of the four sockets on the path absorb.
    const total = 16 * 1024 * 1024;
    const payload = Buffer.alloc(total);
    for (let i = 0; i < total; i += 4) payload.writeUInt32BE(i / 4, i);
    for (let i = 0; i < total; i += chunk) client.socket.write(payload.subarray(i, i + chunk));

    // Let every buffer between the two peers fill up.
    await sleep(100);
    const stalled = proxy.stats();
    expect(stalled.bufferedBytes.upstream).toBeLessThanOrEqual(maxBufferedBytes + chunk);
    expect(client.socket.writableLength).toBeGreaterThan(0);

    // Window-limited throughput (maxBufferedBytes per latency) would make draining slow.
    proxy.setLatency({ upstreamMs: 0 });
    server.connections[0].socket.resume();
    await waitFor(
      'all bytes',
      () => server.connections[0].received.reduce((n, b) => n + b.length, 0) >= total,
      5_000,
    );
    const got = Buffer.concat(server.connections[0].received);
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(payload).digest('hex'),
    );
  });
});

describe('WanProxy connection lifecycle', () => {
  it('delivers a FIN behind the delayed data, in both directions', async () => {
    const server = await startTestServer('echo');
    const { listenPort } = await startProxy({
      port: server.port,
      latency: { upstreamMs: 30, downstreamMs: 30 },
    });
    const client = await openClient(listenPort);
    const t0 = performance.now();
    client.socket.end('bye');
    // The echo server ends its side when it sees our FIN; that FIN must follow the echoed bytes.
    await waitFor('end from server', () => client.events.ended);
    expect(client.text()).toBe('bye');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    await waitFor('close', () => client.events.closed);
    expect(client.events.error).toBeNull();
  });

  it('passes a reset from the target on to the client', async () => {
    const server = await startTestServer('echo');
    const { proxy, listenPort } = await startProxy({
      port: server.port,
      latency: { upstreamMs: 0, downstreamMs: 20 },
    });
    const client = await openClient(listenPort);
    await expectEcho(client, 'ok');
    server.connections[0].socket.resetAndDestroy();
    await waitFor('client close', () => client.events.closed);
    expect(client.events.error?.code).toBe('ECONNRESET');
    await waitFor('proxy forgets the connection', () => proxy.stats().connections.open === 0);
  });
});

describe('WanProxy cuts', () => {
  it('reset: connected clients see a reset and new connections fail', async () => {
    const server = await startTestServer('echo');
    const { proxy, listenPort } = await startProxy({ port: server.port });
    const client = await openClient(listenPort);
    await expectEcho(client, 'hello');

    proxy.cut('reset');
    await waitFor('client close', () => client.events.closed);
    expect(client.events.error?.code).toBe('ECONNRESET');
    await waitFor('server side close', () => server.connections[0].closed);

    const late = await openClient(listenPort);
    await waitFor('late client close', () => late.events.closed);
    expect(late.events.error?.code ?? 'closed').toMatch(/ECONNRESET|closed/);
    expect(late.received).toHaveLength(0);
    expect(server.connections).toHaveLength(1);
    expect(proxy.stats()).toMatchObject({
      mode: 'reset',
      connections: { open: 0, refused: 1, total: 2 },
    });
  });

  it('blackhole: nothing crosses either way and nobody is told', async () => {
    const server = await startTestServer('sink');
    const { proxy, listenPort } = await startProxy({ port: server.port });
    const client = await openClient(listenPort);
    client.socket.write('before;');
    await waitFor('first bytes', () => server.text() === 'before;');

    proxy.cut('blackhole');
    client.socket.write('lost-upstream;');
    server.connections[0].socket.write('lost-downstream;');
    const newcomer = await openClient(listenPort);
    expect(newcomer.events.connected).toBe(true);
    newcomer.socket.write('newcomer;');
    await sleep(150);

    expect(server.text()).toBe('before;');
    expect(server.connections).toHaveLength(1);
    expect(server.connections[0].closed).toBe(false);
    for (const c of [client, newcomer]) {
      expect(c.received).toHaveLength(0);
      expect(c.events).toMatchObject({ ended: false, closed: false, error: null });
      expect(c.socket.readyState).toBe('open');
    }
    const stats = proxy.stats();
    expect(stats.mode).toBe('blackhole');
    expect(stats.connections).toMatchObject({ open: 2, blackholed: 1, held: 1 });
    expect(stats.droppedBytes.upstream).toBe('lost-upstream;'.length);
    expect(stats.droppedBytes.downstream).toBe('lost-downstream;'.length);
  });

  it('restore: a connection accepted during a blackhole goes through with its first bytes', async () => {
    const server = await startTestServer('echo');
    const { proxy, listenPort } = await startProxy({ port: server.port });
    proxy.cut('blackhole');
    const early = await openClient(listenPort);
    early.socket.write('sent-during-cut;');
    await sleep(100);
    expect(server.connections).toHaveLength(0);
    expect(early.received).toHaveLength(0);

    proxy.restore();
    await waitFor('held bytes echoed', () => early.text() === 'sent-during-cut;');
    await expectEcho(early, 'after;');
    expect(proxy.stats().connections).toMatchObject({ open: 1, held: 0, blackholed: 0 });
  });

  it('a reset cut resets held connections: they never reach the target', async () => {
    const server = await startTestServer('echo');
    const { proxy, listenPort } = await startProxy({ port: server.port });
    proxy.cut('blackhole');
    const victim = await openClient(listenPort);
    proxy.cut('reset');
    await waitFor('victim reset', () => victim.events.closed);
    proxy.restore();
    await sleep(100);
    expect(server.connections.filter((c) => !c.closed)).toHaveLength(0);
    expect(proxy.stats().connections).toMatchObject({ held: 0 });
  });

  it('restore: new connections are forwarded again, blackholed ones stay silent', async () => {
    const server = await startTestServer('echo');
    const { proxy, listenPort } = await startProxy({
      port: server.port,
      latency: { upstreamMs: 10, downstreamMs: 10 },
    });
    const old = await openClient(listenPort);
    await expectEcho(old, 'one');

    proxy.cut('blackhole');
    proxy.restore();
    const fresh = await openClient(listenPort);
    await expectEcho(fresh, 'two');
    old.socket.write('still-lost');
    await sleep(100);
    expect(old.text()).toBe('one');
    expect(old.events.closed).toBe(false);

    proxy.cut('reset');
    proxy.restore();
    const afterReset = await openClient(listenPort);
    await expectEcho(afterReset, 'three');
    expect(proxy.stats()).toMatchObject({ mode: 'normal', connections: { open: 1 } });
  });

  it('tries the next target when a connect fails', async () => {
    const server = await startTestServer('echo');
    const dead = await freePort();
    const proxy = new WanProxy({
      targets: [
        { host: '127.0.0.1', port: dead },
        { host: '127.0.0.1', port: server.port },
      ],
    });
    const listenPort = await proxy.start();
    cleanups.push(() => proxy.stop());
    const client = await openClient(listenPort);
    await expectEcho(client, 'failover');

    const nowhere = new WanProxy({ targets: [{ host: '127.0.0.1', port: dead }] });
    const nowherePort = await nowhere.start();
    cleanups.push(() => nowhere.stop());
    const stranded = await openClient(nowherePort);
    await waitFor('stranded close', () => stranded.events.closed);
    expect(nowhere.stats().connections).toMatchObject({ failed: 1, open: 0 });
  });

  it('stop() closes every socket, releases the port and is idempotent', async () => {
    const server = await startTestServer('echo');
    const proxy = new WanProxy({ targets: [{ host: '127.0.0.1', port: server.port }] });
    const port = await proxy.start(0);
    const client = await openClient(port);
    await expectEcho(client, 'x');

    await Promise.all([proxy.stop(), proxy.stop()]);
    await proxy.stop();
    await waitFor('client close', () => client.events.closed);
    expect(proxy.listenPort).toBeNull();

    const reuse = createServer();
    await new Promise<void>((r, j) => {
      reuse.once('error', j);
      reuse.listen(port, '127.0.0.1', r);
    });
    await new Promise<void>((r) => reuse.close(() => r()));
    // The same instance can be started again on the released port.
    expect(await proxy.start(port)).toBe(port);
    await proxy.stop();
  });

  it('rejects invalid configuration', () => {
    expect(() => new WanProxy({ targets: [] })).toThrow(/at least one target/);
    expect(() => new WanProxy({ targets: [{ host: '127.0.0.1', port: 70000 }] })).toThrow(
      /targets\[0\]\.port/,
    );
    const proxy = new WanProxy({ targets: [{ host: '127.0.0.1', port: 1 }] });
    expect(() => proxy.setLatency({ upstreamMs: -1 })).toThrow(/upstreamMs/);
    expect(() => proxy.setLatency({ downstreamMs: Number.NaN })).toThrow(/downstreamMs/);
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const address = probe.address();
  await new Promise<void>((r) => probe.close(() => r()));
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return address.port;
}

describe('WanProxyServer control API', () => {
  async function startControl() {
    const server = await startTestServer('echo');
    const wan = new WanProxyServer({
      proxies: [
        { name: 'dc1', targets: [{ host: '127.0.0.1', port: server.port }] },
        { name: 'dc2', targets: [{ host: '127.0.0.1', port: server.port }] },
      ],
    });
    const addresses = await wan.start();
    cleanups.push(() => wan.stop());
    return { wan, addresses, api: addresses.controlPort };
  }

  it('lists, sets latency, cuts and restores', async () => {
    const { wan, addresses, api } = await startControl();

    const list = await controlRequest(api, 'GET', '/proxies');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({
      proxies: [
        { name: 'dc1', listenPort: addresses.proxies.dc1, mode: 'normal' },
        { name: 'dc2', listenPort: addresses.proxies.dc2, mode: 'normal' },
      ],
    });

    const latency = await controlRequest(api, 'PUT', '/proxies/dc1/latency', {
      json: { upstreamMs: 30, downstreamMs: 40 },
    });
    expect(latency).toMatchObject({
      status: 200,
      body: { name: 'dc1', latency: { upstreamMs: 30, downstreamMs: 40 } },
    });
    expect(wan.proxy('dc1').getLatency()).toEqual({ upstreamMs: 30, downstreamMs: 40 });
    expect(wan.proxy('dc2').getLatency()).toEqual({ upstreamMs: 0, downstreamMs: 0 });

    const client = await openClient(addresses.proxies.dc1);
    const t0 = performance.now();
    await expectEcho(client, 'via-dc1');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(65);

    const cut = await controlRequest(api, 'POST', '/proxies/dc2/cut', {
      json: { mode: 'blackhole' },
    });
    expect(cut).toMatchObject({ status: 200, body: { name: 'dc2', mode: 'blackhole' } });
    expect(wan.proxy('dc1').getMode()).toBe('normal');

    const one = await controlRequest(api, 'GET', '/proxies/dc2');
    expect(one).toMatchObject({ status: 200, body: { mode: 'blackhole' } });

    const restored = await controlRequest(api, 'POST', '/proxies/dc2/restore');
    expect(restored).toMatchObject({ status: 200, body: { mode: 'normal' } });

    const reset = await controlRequest(api, 'POST', '/proxies/dc1/cut', {
      json: { mode: 'reset' },
    });
    expect(reset).toMatchObject({ status: 200, body: { mode: 'reset' } });
    await waitFor('client reset', () => client.events.closed);
  });

  it.each([
    ['PUT', '/proxies/dc1/latency', { raw: '{not json' }, /not valid JSON/],
    ['PUT', '/proxies/dc1/latency', { raw: '' }, /empty body/],
    ['PUT', '/proxies/dc1/latency', { json: [] }, /JSON object/],
    ['PUT', '/proxies/dc1/latency', { json: null }, /JSON object/],
    ['PUT', '/proxies/dc1/latency', { json: { upstreamMs: 10 } }, /downstreamMs is required/],
    ['PUT', '/proxies/dc1/latency', { json: { upstreamMs: -1, downstreamMs: 0 } }, /upstreamMs/],
    ['PUT', '/proxies/dc1/latency', { json: { upstreamMs: '5', downstreamMs: 0 } }, /upstreamMs/],
    [
      'PUT',
      '/proxies/dc1/latency',
      { json: { upstreamMs: 1, downstreamMs: 1e12 } },
      /downstreamMs/,
    ],
    ['PUT', '/proxies/dc1/latency', { json: { up: 1, upstreamMs: 1, downstreamMs: 1 } }, /"up"/],
    ['POST', '/proxies/dc1/cut', { json: { mode: 'sideways' } }, /reset.*blackhole/],
    ['POST', '/proxies/dc1/cut', { json: 'reset' }, /JSON object/],
    ['POST', '/proxies/dc1/cut', { raw: '\u0000\u0001garbage' }, /not valid JSON/],
    ['GET', '/proxies/%E0%A4%A', {}, /malformed/],
  ])('%s %s with bad input answers 400', async (method, path, options, message) => {
    const { wan, api } = await startControl();
    const res = await controlRequest(api, method, path, options);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect((res.body as { message: string }).message).toMatch(message);
    expect(wan.proxy('dc1').stats()).toMatchObject({
      mode: 'normal',
      latency: { upstreamMs: 0, downstreamMs: 0 },
    });
  });

  it('answers 404/405/413 and survives protocol garbage', async () => {
    const { api } = await startControl();
    for (const [method, path] of [
      ['POST', '/proxies/nope/restore'],
      ['PUT', '/proxies/nope/latency'],
      ['GET', '/'],
      ['GET', '/proxies/dc1/bogus'],
      ['GET', '/proxies/dc1/cut/extra'],
    ]) {
      const res = await controlRequest(api, method, path, { json: { upstreamMs: 1 } });
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    }
    const wrongMethod = await controlRequest(api, 'GET', '/proxies/dc1/cut');
    expect(wrongMethod).toMatchObject({ status: 405, body: { statusCode: 405 } });
    const huge = await controlRequest(api, 'PUT', '/proxies/dc1/latency', {
      raw: 'x'.repeat(200_000),
    });
    expect(huge.status).toBe(413);

    const raw = await openClient(api);
    raw.socket.write('GARBAGE \u0000 NOT HTTP\r\n\r\n');
    await waitFor('garbage connection closed', () => raw.events.closed);
    expect(raw.text()).toMatch(/^HTTP\/1\.1 400/);
    expect((await controlRequest(api, 'GET', '/proxies')).status).toBe(200);
  });

  it('rejects bad proxy names and releases every port on stop', async () => {
    expect(
      () =>
        new WanProxyServer({
          proxies: [
            { name: 'dc1', targets: [{ host: '127.0.0.1', port: 1 }] },
            { name: 'dc1', targets: [{ host: '127.0.0.1', port: 2 }] },
          ],
        }),
    ).toThrow(/duplicate/);
    expect(
      () => new WanProxyServer({ proxies: [{ name: '../x', targets: [{ host: 'h', port: 1 }] }] }),
    ).toThrow(/invalid proxy name/);

    const { wan, addresses, api } = await startControl();
    await wan.stop();
    await wan.stop();
    for (const port of [api, addresses.proxies.dc1, addresses.proxies.dc2]) {
      const probe = createServer();
      await new Promise<void>((r, j) => {
        probe.once('error', j);
        probe.listen(port, '127.0.0.1', r);
      });
      await new Promise<void>((r) => probe.close(() => r()));
    }
  });
});

describe('wan-proxy CLI', () => {
  const state = {
    basePort: 36000,
    dir: '/abs',
    admin: { username: 'u', password: 'p' },
    wanProxy: { controlPort: 36099 },
    sites: [
      {
        name: 'dc1',
        clusterName: 'x',
        nodes: [
          {
            name: 'n@localhost',
            host: '127.0.0.1',
            amqpPort: 36000,
            managementPort: 36001,
            distPort: 36002,
            type: 'disc',
          },
        ],
        link: { host: '127.0.0.1', port: 36050 },
      },
    ],
  };

  it('parses the sites state file into one proxy per site', () => {
    expect(parseSitesState(state)).toEqual({
      controlPort: 36099,
      proxies: [
        {
          name: 'dc1',
          listenHost: '127.0.0.1',
          listenPort: 36050,
          targets: [{ host: '127.0.0.1', port: 36000 }],
        },
      ],
    });
    expect(() => parseSitesState({ sites: [] })).toThrow(/sites must be a non-empty array/);
    expect(() =>
      parseSitesState({ sites: [{ ...state.sites[0], link: { host: '127.0.0.1', port: 'x' } }] }),
    ).toThrow(/sites\[0\]\.link\.port/);
  });

  it('adds a <site>-tls proxy to the AMQPS ports for a site started with TLS', () => {
    const node = { ...state.sites[0].nodes[0], amqpsPort: 36003 };
    const tlsSite = {
      ...state.sites[0],
      nodes: [node],
      tlsLink: { host: '127.0.0.1', port: 36051 },
    };
    expect(parseSitesState({ sites: [tlsSite] }).proxies).toEqual([
      expect.objectContaining({
        name: 'dc1',
        listenPort: 36050,
        targets: [{ host: '127.0.0.1', port: 36000 }],
      }),
      {
        name: 'dc1-tls',
        listenHost: '127.0.0.1',
        listenPort: 36051,
        targets: [{ host: '127.0.0.1', port: 36003 }],
      },
    ]);
    expect(() =>
      parseSitesState({ sites: [{ ...tlsSite, nodes: [state.sites[0].nodes[0]] }] }),
    ).toThrow(/sites\[0\]\.nodes\[0\]\.amqpsPort/);
  });

  it('parses commands and rejects bad ones', () => {
    expect(parseCliArgs(['serve', '--state', '/tmp/s.json'])).toEqual({
      kind: 'serve-state',
      statePath: '/tmp/s.json',
      controlPort: null,
    });
    expect(
      parseCliArgs([
        'serve',
        '--listen',
        '0',
        '--target',
        '127.0.0.1:1,[::1]:2',
        '--upstream-ms',
        '5',
      ]),
    ).toMatchObject({
      kind: 'serve-adhoc',
      config: {
        proxies: [
          {
            listenPort: 0,
            targets: [
              { host: '127.0.0.1', port: 1 },
              { host: '::1', port: 2 },
            ],
            latency: { upstreamMs: 5, downstreamMs: 0 },
          },
        ],
      },
    });
    expect(parseCliArgs(['ctl', '--port', '9', 'latency', 'dc1', '10', '20'])).toEqual({
      kind: 'ctl',
      host: '127.0.0.1',
      port: 9,
      action: { kind: 'latency', name: 'dc1', upstreamMs: 10, downstreamMs: 20 },
    });
    expect(parseCliArgs(['ctl', '--port', '9', 'cut', 'dc1', 'blackhole'])).toMatchObject({
      action: { kind: 'cut', mode: 'blackhole' },
    });
    expect(() => parseCliArgs(['ctl', '--port', '9', 'cut', 'dc1', 'sideways'])).toThrow(/mode/);
    expect(() => parseCliArgs(['ctl', 'status'])).toThrow(/--port/);
    expect(() => parseCliArgs(['ctl', '--port', '9', 'latency', 'dc1', '-5', '1'])).toThrow();
    expect(() => parseCliArgs(['serve', '--bogus'])).toThrow(/bogus/);
    expect(() => parseCliArgs(['fly'])).toThrow(/unknown command/);
  });

  it('serves a state file, is controllable over HTTP and exits cleanly on SIGTERM', async () => {
    const backend = await startTestServer('echo');
    const [linkPort, controlPort] = [await freePort(), await freePort()];
    const dir = await mkdtemp(join(tmpdir(), 'wan-proxy-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const statePath = join(dir, 'sites.json');
    const site = state.sites[0];
    await writeFile(
      statePath,
      JSON.stringify({
        ...state,
        wanProxy: { controlPort },
        sites: [
          {
            ...site,
            nodes: [{ ...site.nodes[0], amqpPort: backend.port }],
            link: { host: '127.0.0.1', port: linkPort },
          },
        ],
      }),
    );

    const root = resolve(__dirname, '..');
    const child: ChildProcess = spawn(
      join(root, 'node_modules/.bin/tsx'),
      [join(root, 'test/fixtures/wan-proxy/cli.ts'), 'serve', '--state', statePath],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

    await waitFor('cli ready', () => stdout.includes('"event":"ready"'), 8_000);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.event === 'ready')).toMatchObject({
      controlPort,
      proxies: { dc1: linkPort },
    });

    const latency = await controlRequest(controlPort, 'PUT', '/proxies/dc1/latency', {
      json: { upstreamMs: 20, downstreamMs: 20 },
    });
    expect(latency.status).toBe(200);
    const client = await openClient(linkPort);
    const t0 = performance.now();
    await expectEcho(client, 'through-cli');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('"event":"exit"');
    await waitFor('client closed by shutdown', () => client.events.closed);
  }, 15_000);
});
