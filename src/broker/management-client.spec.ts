import { inspect } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ManagementClient } from './management-client';
import { apiPath, responseKind } from './management.paths';
import {
  BrokerAuthError,
  BrokerError,
  BrokerNotFoundError,
  BrokerProtocolError,
  BrokerRejectedError,
  BrokerServerError,
  BrokerTimeoutError,
  BrokerUnreachableError,
  isBrokerUnavailable,
  redactBrokerText,
} from './management.errors';
import {
  closedPort,
  sendJson,
  startFakeNode,
  type FakeHandler,
  type FakeNode,
} from './testing/fake-management-server';

const password = 'Sup3r-s3cret/pw';
const username = 'crossdock';

const ok: FakeHandler = (_req, res) => sendJson(res, 200, { ok: true });
const hang: FakeHandler = () => undefined;

describe('ManagementClient', () => {
  const started: FakeNode[] = [];

  async function fake(name: string, handle: FakeHandler): Promise<FakeNode> {
    const n = await startFakeNode(name, handle);
    started.push(n);
    return n;
  }

  function client(
    nodes: { name: string; port: number }[],
    extra: { timeoutMs?: number; maxResponseBytes?: number } = {},
  ): ManagementClient {
    return new ManagementClient({
      nodes: nodes.map((n) => ({ name: n.name, host: '127.0.0.1', managementPort: n.port })),
      scheme: 'http',
      username,
      password,
      timeoutMs: extra.timeoutMs ?? 2000,
      maxResponseBytes: extra.maxResponseBytes,
    });
  }

  function assertNoSecret(err: unknown): void {
    const basic = Buffer.from(`${username}:${password}`).toString('base64');
    const e = err as Error;
    for (const text of [
      e.message,
      e.stack ?? '',
      JSON.stringify(err),
      inspect(err, { depth: 10 }),
    ]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(encodeURIComponent(password));
      expect(text).not.toContain(basic);
      expect(text).not.toContain('hunter2');
    }
  }

  /** Captures the rejection; every error any test provokes must be free of secrets. */
  async function failure(p: Promise<unknown>): Promise<BrokerError> {
    try {
      await p;
    } catch (err) {
      assertNoSecret(err);
      if (err instanceof BrokerError) return err;
      throw err;
    }
    throw new Error('expected a rejection');
  }

  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.close()));
  });

  it('sends basic auth and JSON, and reports the answering node and attempts', async () => {
    const a = await fake('a@h', (_req, res, body) =>
      sendJson(res, 201, { echoed: JSON.parse(body) }),
    );
    const c = client([a]);
    const res = await c.send('PUT', apiPath`/api/policies/${'/'}/${'p 1'}`, { x: 1 });
    expect(res).toMatchObject({ status: 201, node: 'a@h', body: { echoed: { x: 1 } } });
    expect(res.attempts).toEqual([
      { node: 'a@h', ok: true, status: 201, latencyMs: expect.any(Number) },
    ]);
    expect(a.requests[0]).toMatchObject({
      method: 'PUT',
      url: '/api/policies/%2F/p%201',
      authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
    });
  });

  it('returns undefined for an empty 204 body', async () => {
    const a = await fake('a@h', (_req, res) => {
      res.writeHead(204);
      res.end();
    });
    await expect(client([a]).delete('/api/parameters/shovel/%2F/s')).resolves.toBeUndefined();
  });

  it('fails over on 500 to the next node and starts there next time', async () => {
    const a = await fake('a@h', (_req, res) => sendJson(res, 500, { error: 'internal' }));
    const b = await fake('b@h', ok);
    const c = client([a, b]);
    const res = await c.send('GET', '/api/overview');
    expect(res.node).toBe('b@h');
    expect(res.attempts.map((x) => [x.node, x.ok, x.errorKind, x.status])).toEqual([
      ['a@h', false, 'server', 500],
      ['b@h', true, undefined, 200],
    ]);
    expect(c.preferredNode).toBe('b@h');
    await c.get('/api/overview');
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(2);
  });

  it('fails over on connection refused and on timeouts', async () => {
    const refused = await closedPort();
    const slow = await fake('slow@h', hang);
    const b = await fake('b@h', ok);
    const c = client(
      [
        { name: 'gone@h', port: refused },
        { name: 'slow@h', port: slow.port },
        { name: 'b@h', port: b.port },
      ],
      { timeoutMs: 300 },
    );
    const res = await c.send('GET', '/api/nodes');
    expect(res.attempts.map((x) => [x.node, x.errorKind])).toEqual([
      ['gone@h', 'unreachable'],
      ['slow@h', 'timeout'],
      ['b@h', undefined],
    ]);
    expect(res.attempts[0].error).toMatch(/ECONNREFUSED/);
    expect(res.attempts[1].latencyMs).toBeGreaterThanOrEqual(250);
  });

  it('never fails over on 4xx', async () => {
    const cases: [number, new (...args: never[]) => BrokerError][] = [
      [401, BrokerAuthError],
      [403, BrokerAuthError],
      [404, BrokerNotFoundError],
      [400, BrokerRejectedError],
      [409, BrokerRejectedError],
    ];
    for (const [status, type] of cases) {
      const a = await fake('a@h', (_req, res) =>
        sendJson(res, status, { error: 'x', reason: 'no' }),
      );
      const b = await fake('b@h', ok);
      const err = await failure(client([a, b]).get('/api/overview'));
      expect(err).toBeInstanceOf(type);
      expect(err.brokerStatus).toBe(status);
      expect(err.node).toBe('a@h');
      expect(err.attempts).toHaveLength(1);
      expect(b.requests).toHaveLength(0);
      expect(isBrokerUnavailable(err)).toBe(false);
    }
  });

  it('redacts the reason of a rejection, which echoes URIs with passwords', async () => {
    const a = await fake('a@h', (_req, res) =>
      sendJson(res, 400, {
        error: 'bad_request',
        reason: `Validation failed\n\n"amqpx://bob:hunter2@remote:5672" not a valid URI: {{unexpected_uri_scheme,\n &lt;&lt;"amqpx"&gt;&gt;}} ${password} ${encodeURIComponent(password)}`,
      }),
    );
    const err = await failure(
      client([a]).put(apiPath`/api/parameters/federation-upstream/${'/'}/${'u'}`, {
        value: { uri: `amqp://${username}:${password}@x` },
      }),
    );
    expect(err).toBeInstanceOf(BrokerRejectedError);
    const reason = (err as BrokerRejectedError).reason;
    expect(reason).toContain('amqpx://bob:(redacted)@remote:5672');
    expect(reason).toContain('<<"amqpx">>');
    expect(reason).not.toMatch(/\n/);
    expect(err.message).toContain(reason);
    assertNoSecret(err);
  });

  it('throws BrokerTimeoutError when the only node never answers, within the timeout', async () => {
    const a = await fake('a@h', hang);
    const started = Date.now();
    const err = await failure(client([a], { timeoutMs: 300 }).get('/api/overview'));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(err).toBeInstanceOf(BrokerTimeoutError);
    expect(err.kind).toBe('timeout');
    expect(err.status).toBe(503);
    expect(isBrokerUnavailable(err)).toBe(true);
  });

  it('times out a body that starts but never ends', async () => {
    const a = await fake('a@h', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
    });
    const b = await fake('b@h', ok);
    const res = await client([a, b], { timeoutMs: 300 }).send('GET', '/api/nodes');
    expect(res.attempts.map((x) => x.errorKind)).toEqual(['timeout', undefined]);
  });

  it('reports BrokerUnreachableError with every node when all refuse connections', async () => {
    const ports = [await closedPort(), await closedPort(), await closedPort()];
    const c = client(ports.map((port, i) => ({ name: `n${i}@h`, port })));
    const err = await failure(c.get('/api/overview'));
    expect(err).toBeInstanceOf(BrokerUnreachableError);
    expect(err.attempts.map((a) => [a.node, a.ok, a.errorKind])).toEqual([
      ['n0@h', false, 'unreachable'],
      ['n1@h', false, 'unreachable'],
      ['n2@h', false, 'unreachable'],
    ]);
    expect(err.message).toMatch(/n0@h: connect ECONNREFUSED/);
    expect(err.status).toBe(503);
  });

  it('says timeout only when every node timed out, unreachable for a mix', async () => {
    const slow1 = await fake('s1@h', hang);
    const slow2 = await fake('s2@h', hang);
    const allSlow = await failure(client([slow1, slow2], { timeoutMs: 200 }).get('/api/overview'));
    expect(allSlow).toBeInstanceOf(BrokerTimeoutError);
    expect(allSlow.attempts.map((a) => a.errorKind)).toEqual(['timeout', 'timeout']);

    const mixed = client([slow1, { name: 'gone@h', port: await closedPort() }], { timeoutMs: 200 });
    const err = await failure(mixed.get('/api/overview'));
    expect(err).toBeInstanceOf(BrokerUnreachableError);
    expect(err.attempts.map((a) => a.errorKind)).toEqual(['timeout', 'unreachable']);
  });

  it('reports BrokerServerError when every node answers 5xx', async () => {
    const a = await fake('a@h', (_req, res) => sendJson(res, 503, { error: 'x', reason: 'down' }));
    const b = await fake('b@h', (_req, res) => sendJson(res, 500, { error: 'x', reason: 'crash' }));
    const err = await failure(client([a, b]).get('/api/overview'));
    expect(err).toBeInstanceOf(BrokerServerError);
    expect(err).toMatchObject({ node: 'b@h', brokerStatus: 500, reason: 'crash' });
    expect(err.attempts.map((a) => a.status)).toEqual([503, 500]);
  });

  it('turns truncated and garbage bodies into BrokerProtocolError without echoing them', async () => {
    const bodies: [string, string][] = [
      ['{"name":"amqp://bob:hunter2@x', 'truncated'],
      ['<html>amqp://bob:hunter2@x</html>', 'invalid-json'],
      ['{"a":1} trailing', 'invalid-json'],
    ];
    for (const [text, problem] of bodies) {
      const a = await fake('a@h', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(text);
      });
      const b = await fake('b@h', ok);
      const err = await failure(client([a, b]).get('/api/overview'));
      expect(err).toBeInstanceOf(BrokerProtocolError);
      expect((err as BrokerProtocolError).problem).toBe(problem);
      expect(err.message).not.toContain('amqp://');
      expect(b.requests).toHaveLength(0);
    }
  });

  it('reports a connection cut mid-body as truncated', async () => {
    const a = await fake('a@h', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"name":', () => res.destroy());
    });
    const err = await failure(client([a]).get('/api/overview'));
    expect(err).toBeInstanceOf(BrokerProtocolError);
    expect((err as BrokerProtocolError).problem).toBe('truncated');
  });

  it('refuses bodies larger than the bound, declared or streamed', async () => {
    const declared = await fake('a@h', (_req, res) => {
      res.writeHead(200, { 'content-length': String(65 * 1024 * 1024) });
      res.write('[');
    });
    const err = await failure(client([declared]).get('/api/queues'));
    expect(err).toBeInstanceOf(BrokerProtocolError);
    expect((err as BrokerProtocolError).problem).toBe('too-large');
    // A listing: 16 MiB.
    expect(err.message).toMatch(/exceeds 16777216 bytes/);

    const streamed = await fake('b@h', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = `"${'x'.repeat(16 * 1024)}",`;
      res.write('[');
      for (let i = 0; i < 10; i++) res.write(chunk);
      res.end('"x"]');
    });
    const small = client([streamed], { maxResponseBytes: 64 * 1024 });
    const err2 = await failure(small.get('/api/queues'));
    expect((err2 as BrokerProtocolError).problem).toBe('too-large');
  });

  it('treats redirects and non-UTF-8 bodies as protocol errors, never following them', async () => {
    const target = await fake('t@h', ok);
    const redirect = await fake('r@h', (_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${target.port}/api/overview` });
      res.end();
    });
    const e1 = await failure(client([redirect]).get('/api/overview'));
    expect(e1).toMatchObject({ kind: 'protocol', problem: 'unexpected-status', brokerStatus: 302 });
    expect(target.requests).toHaveLength(0);

    const binary = await fake('b@h', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    });
    const e2 = await failure(client([binary]).get('/api/overview'));
    expect(e2).toMatchObject({ kind: 'protocol', problem: 'invalid-json' });
  });

  it('reads health alarms from 200 and from 503, and fails over on a 503 without alarms', async () => {
    const fine = await fake('a@h', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    await expect(client([fine]).healthAlarms()).resolves.toMatchObject({
      body: { ok: true, alarms: [] },
    });

    const alarmed = await fake('b@h', (_req, res) =>
      sendJson(res, 503, {
        alarms: [{ node: 'b@h', resource: 'disk space' }],
        reason: 'There are alarms in effect in the cluster',
        status: 'failed',
      }),
    );
    await expect(client([alarmed]).healthAlarms()).resolves.toMatchObject({
      status: 503,
      body: { ok: false, alarms: [{ node: 'b@h', resource: 'disk space' }] },
    });

    const broken = await fake('c@h', (_req, res) => sendJson(res, 503, { error: 'unavailable' }));
    const res = await client([broken, fine]).healthAlarms();
    expect(res.node).toBe('a@h');
    expect(res.attempts[0]).toMatchObject({ node: 'c@h', errorKind: 'server' });
  });

  it('checks the shape of typed helpers', async () => {
    const a = await fake('a@h', (req, res) => {
      if (req.url?.startsWith('/api/nodes')) sendJson(res, 200, { not: 'an array' });
      else sendJson(res, 200, { name: 42 });
    });
    const c = client([a]);
    const e1 = await failure(c.nodes());
    expect(e1).toBeInstanceOf(BrokerProtocolError);
    expect((e1 as BrokerProtocolError).problem).toBe('wrong-shape');
    const e2 = await failure(c.clusterName());
    expect((e2 as BrokerProtocolError).problem).toBe('wrong-shape');
    expect(e2.message).toBe('GET /api/cluster-name: a@h: expected {"name": string}');
    const e3 = await failure(c.healthAlarms());
    expect(e3).toMatchObject({
      kind: 'protocol',
      problem: 'wrong-shape',
      path: '/api/health/checks/alarms',
    });
    expect(a.requests[0].url).toBe(
      '/api/nodes?columns=name%2Ctype%2Crunning%2Cpartitions%2Cmem_alarm%2Cdisk_free_alarm%2Cenabled_plugins',
    );
  });

  it('asks one node only with requestNode', async () => {
    const a = await fake('a@h', ok);
    const b = await fake('b@h', (_req, res) => sendJson(res, 200, { node: 'b@h' }));
    const c = client([a, b]);
    await expect(c.nodeIdentity('b@h')).resolves.toMatchObject({ body: 'b@h', node: 'b@h' });
    expect(a.requests).toHaveLength(0);
    expect(b.requests[0].url).toBe('/api/overview?disable_stats=true&columns=node');
    await b.close();
    const err = await failure(c.requestNode('b@h', 'GET', '/api/overview'));
    expect(err).toBeInstanceOf(BrokerUnreachableError);
    expect(err.attempts.map((x) => x.node)).toEqual(['b@h']);
    await expect(c.requestNode('zzz', 'GET', '/api/overview')).rejects.toThrow(RangeError);
  });

  it('keeps credentials out of its own inspection', () => {
    const c = client([{ name: 'a@h', port: 1 }]);
    expect(inspect(c, { depth: 5, showHidden: true })).not.toContain(password);
    expect(JSON.stringify(c)).not.toContain(password);
  });

  it('runs the write guard before every write attempt (failover included), never before a GET', async () => {
    const refused = await closedPort();
    const b = await fake('b', ok);
    const calls: string[] = [];
    const guarded = new ManagementClient({
      nodes: [
        { name: 'a', host: '127.0.0.1', managementPort: refused },
        { name: 'b', host: '127.0.0.1', managementPort: b.port },
      ],
      scheme: 'http',
      username,
      password,
      timeoutMs: 2000,
      writeGuard: () => {
        calls.push('guard');
      },
    });
    await guarded.send('PUT', '/api/policies/v/p', { pattern: '.*' });
    // Node a refused, node b answered: one guard call per attempt. b is preferred from now on.
    expect(calls).toEqual(['guard', 'guard']);
    await guarded.get('/api/overview');
    expect(calls).toHaveLength(2);
    await guarded.send('DELETE', '/api/policies/v/p');
    expect(calls).toHaveLength(3);
  });

  it('sends nothing when the write guard throws', async () => {
    const a = await fake('a', ok);
    const guarded = new ManagementClient({
      nodes: [{ name: 'a', host: '127.0.0.1', managementPort: a.port }],
      scheme: 'http',
      username,
      password,
      timeoutMs: 2000,
      writeGuard: () => Promise.reject(new Error('lock lost')),
    });
    await expect(guarded.send('PUT', '/api/policies/v/p', {})).rejects.toThrow('lock lost');
    expect(a.requests).toHaveLength(0);
    await guarded.get('/api/overview');
    expect(a.requests).toHaveLength(1);
  });

  describe('answers bounded per endpoint kind', () => {
    it.each([
      ['GET', '/api/queues', 'listing'],
      ['GET', '/api/queues/%2F', 'listing'],
      ['GET', '/api/queues/%2F/orders', 'object'],
      ['GET', '/api/parameters/shovel', 'listing'],
      ['GET', '/api/parameters/shovel/%2F', 'listing'],
      ['GET', '/api/parameters/shovel/%2F/s1', 'object'],
      ['GET', '/api/bindings/%2F/e/x/q/y', 'listing'],
      ['GET', '/api/bindings/%2F/e/x/q/y/~', 'object'],
      ['GET', '/api/users/u/permissions', 'listing'],
      ['GET', '/api/users/u', 'object'],
      ['GET', '/api/connections/username/u', 'listing'],
      ['GET', '/api/overview', 'object'],
      ['GET', '/api/health/checks/alarms', 'object'],
      ['PUT', '/api/policies/%2F/p', 'object'],
      ['DELETE', '/api/queues/%2F/q', 'object'],
    ] as const)('%s %s is read as %s', (method, path, kind) => {
      expect(responseKind(method, path)).toBe(kind);
    });

    it('refuses an object answer over 2 MiB that a listing could have', async () => {
      const big = `[${'"x",'.repeat(700 * 1024)}"x"]`; // ~2.8 MB
      const n = await fake('a@h', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(big);
      });
      const err = await failure(client([n]).get('/api/overview'));
      expect((err as BrokerProtocolError).problem).toBe('too-large');
      expect(err.message).toMatch(/exceeds 2097152 bytes/);
      expect(await client([n]).get<unknown[]>('/api/queues')).toHaveLength(700 * 1024 + 1);
    });

    it('refuses a 60 MB listing with a typed error, bounded memory and no stalled loop', async () => {
      const chunk = Buffer.from(`{"name":"${'q'.repeat(200)}","vhost":"/"},`.repeat(256));
      const total = 60 * 1024 * 1024;
      let sent = 0;
      const n = await fake('a@h', (_req, res) => {
        // Streamed, no content-length: the client has to count.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('[');
        const more = (): void => {
          while (sent < total) {
            sent += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', more);
              return;
            }
          }
          res.end('{}]');
        };
        res.on('error', () => undefined);
        more();
      });
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const sampler = setInterval(() => {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      }, 5);
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const err = await failure(client([n], { timeoutMs: 30000 }).get('/api/queues'));
      delay.disable();
      clearInterval(sampler);
      expect(err).toBeInstanceOf(BrokerProtocolError);
      expect((err as BrokerProtocolError).problem).toBe('too-large');
      expect(err.message).toMatch(/exceeds 16777216 bytes/);
      // Reading stopped at the listing bound, far short of the 60 MB on offer.
      expect(sent).toBeLessThan(total);
      // Unbounded, this took RSS up by 484 MB and held the loop 4.2 s; the margins are for a
      // loaded machine (the listing bound itself is 16 MiB).
      expect((rssPeak - rssBefore) / 1024 / 1024).toBeLessThan(200);
      expect(delay.max / 1e6).toBeLessThan(1000);
    });

    it('parses a 12 MB listing in slices: the loop is never held for long', async () => {
      const items = Array.from({ length: 60000 }, (_, i) => ({
        name: `queue-${i}-${'x'.repeat(150)}`,
        vhost: '/',
      }));
      const text = JSON.stringify(items);
      const n = await fake('a@h', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(text);
      });
      let ticks = 0;
      const timer = setInterval(() => (ticks += 1), 2);
      const got = await client([n], { timeoutMs: 30000 }).get<unknown[]>('/api/queues');
      clearInterval(timer);
      expect(got).toHaveLength(60000);
      expect(got[59999]).toEqual(items[59999]);
      expect(ticks).toBeGreaterThan(3);
    });
  });
});

describe('apiPath', () => {
  it('encodes each interpolated segment', () => {
    expect(apiPath`/api/queues/${'/'}/${'a/b c'}`).toBe('/api/queues/%2F/a%2Fb%20c');
    expect(apiPath`/api/vhosts/${'prod?x=1#y'}`).toBe('/api/vhosts/prod%3Fx%3D1%23y');
  });

  it('refuses segments URL parsing would collapse', () => {
    expect(() => apiPath`/api/queues/${'/'}/${'..'}`).toThrow(RangeError);
    expect(() => apiPath`/api/queues/${'/'}/${'.'}`).toThrow(RangeError);
    expect(() => apiPath`/api/queues/${'/'}/${''}`).toThrow(RangeError);
  });
});

describe('redactBrokerText', () => {
  it('strips URI credentials and literal secrets, and unescapes HTML entities', () => {
    const out = redactBrokerText('uri &quot;amqp://u:p4ss@h&quot; and token-xyz', ['token-xyz']);
    expect(out).toBe('uri "amqp://u:(redacted)@h" and (redacted)');
  });

  it('bounds the length', () => {
    expect(redactBrokerText('x'.repeat(1000), [], 10)).toBe(`${'x'.repeat(10)}...`);
  });
});
