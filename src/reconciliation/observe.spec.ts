import { BrokerProtocolError, BrokerTimeoutError } from '../broker/management.errors';
import type { HttpMethod, ManagementResponse, RequestOptions } from '../broker/management.types';
import { bindingName, type BrokerClient } from '../broker-topology/broker-paths';
import { ListingShapeError, observeBrokerState, parseListing, redactObserved } from './observe';

const secret = 'pa55-w0rd';

/** Listings as 3.10.8 answered them (captured from the local sites, trimmed). */
function realListings(): Record<string, unknown> {
  return {
    '/api/parameters/federation-upstream': [
      {
        value: {
          'max-hops': 1,
          'prefetch-count': 1000,
          'resource-cleanup-mode': 'never',
          uri: `amqp://u:${secret}@127.0.0.1:38150/x?heartbeat=10`,
        },
        vhost: 'v1',
        component: 'federation-upstream',
        name: 'up1',
      },
      {
        value: { uri: [`amqp://u:${secret}@h1/x`, `amqp://u:${secret}@h2/x`] },
        vhost: 'other',
        component: 'federation-upstream',
        name: 'up-elsewhere',
      },
    ],
    '/api/parameters/federation-upstream-set': [
      {
        value: [{ upstream: 'up2' }, { upstream: 'up1' }],
        vhost: 'v1',
        component: 'federation-upstream-set',
        name: 'set1',
      },
    ],
    '/api/parameters/shovel': [
      {
        value: {
          'dest-queue': 'q2',
          'dest-uri': [`amqp://u:${secret}@127.0.0.1:38150/x`],
          'reconnect-delay': 1,
          'src-delete-after': 'never',
          'src-queue': 'q1',
          'src-uri': 'amqp://',
        },
        vhost: '/',
        component: 'shovel',
        name: 'sh1',
      },
    ],
    '/api/policies': [
      {
        vhost: 'v1',
        name: 'p3',
        pattern: '^c',
        'apply-to': 'exchanges',
        definition: { 'federation-upstream-set': 'set1' },
        priority: 2,
      },
    ],
    '/api/exchanges': [
      {
        arguments: {},
        auto_delete: false,
        durable: true,
        internal: false,
        name: '',
        type: 'direct',
        vhost: 'v1',
      },
      {
        arguments: {},
        auto_delete: false,
        durable: true,
        internal: false,
        name: 'amq.direct',
        type: 'direct',
        vhost: 'v1',
      },
      {
        arguments: {},
        auto_delete: false,
        durable: true,
        internal: true,
        name: 'amq.rabbitmq.trace',
        type: 'topic',
        vhost: 'v1',
      },
      {
        arguments: {},
        auto_delete: false,
        durable: false,
        internal: false,
        name: 'x1',
        type: 'topic',
        vhost: 'v1',
      },
      {
        arguments: { 'alternate-exchange': 'x1' },
        auto_delete: false,
        durable: true,
        internal: false,
        name: 'x2',
        type: 'direct',
        vhost: 'v1',
      },
      {
        arguments: {},
        auto_delete: false,
        durable: true,
        internal: false,
        name: 'x9',
        type: 'fanout',
        vhost: 'other',
      },
    ],
    '/api/queues': [
      {
        arguments: { 'x-max-length': 1000 },
        auto_delete: false,
        durable: false,
        name: 'q1',
        vhost: 'v1',
      },
      {
        arguments: { 'x-queue-type': 'quorum' },
        auto_delete: false,
        durable: true,
        name: 'q3',
        vhost: 'v1',
      },
      {
        arguments: { 'x-internal-purpose': 'federation' },
        auto_delete: false,
        durable: true,
        name: 'federation: fx -> crossdock-38000-dc1:probe-rk:fx',
        vhost: '/',
      },
    ],
    '/api/bindings': [
      {
        source: '',
        vhost: 'v1',
        destination: 'q1',
        destination_type: 'queue',
        routing_key: 'q1',
        arguments: {},
      },
      {
        source: 'x1',
        vhost: 'v1',
        destination: 'q1',
        destination_type: 'queue',
        routing_key: 'a.#',
        arguments: { 'x-foo': 1 },
      },
      {
        source: 'x1',
        vhost: 'v1',
        destination: 'q1',
        destination_type: 'queue',
        routing_key: 'a.#',
        arguments: {},
      },
      {
        source: 'x1',
        vhost: 'v1',
        destination: 'x2',
        destination_type: 'exchange',
        routing_key: '',
        arguments: {},
      },
    ],
  };
}

interface Call {
  method: HttpMethod;
  path: string;
  opts?: RequestOptions;
}

function fakeClient(
  bodies: Record<string, unknown>,
  fail?: (path: string) => Error | undefined,
): BrokerClient & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    send: <T>(method: HttpMethod, path: string, _body?: unknown, opts?: RequestOptions) => {
      calls.push({ method, path, opts });
      const err = fail?.(path);
      if (err) return Promise.reject(err);
      if (!(path in bodies)) return Promise.reject(new Error(`unexpected ${path}`));
      const res: ManagementResponse<T> = {
        method,
        path,
        status: 200,
        body: bodies[path] as T,
        node: 'rabbit@n1',
        latencyMs: 1,
        attempts: [{ node: 'rabbit@n1', ok: true, status: 200, latencyMs: 1 }],
      };
      return Promise.resolve(res);
    },
  };
}

describe('observeBrokerState', () => {
  it('maps every listing to broker-value shapes, managed vhosts only', async () => {
    const client = fakeClient(realListings());
    const state = await observeBrokerState(client, ['v1', '/']);
    expect(state.requests).toBe(7);
    expect(client.calls).toHaveLength(7);
    expect(client.calls.every((c) => c.method === 'GET')).toBe(true);
    const byKind = (k: string) => state.objects.filter((o) => o.kind === k);

    expect(byKind('federation-upstream')).toEqual([
      {
        kind: 'federation-upstream',
        vhost: 'v1',
        name: 'up1',
        value: {
          'max-hops': 1,
          'prefetch-count': 1000,
          'resource-cleanup-mode': 'never',
          uri: `amqp://u:${secret}@127.0.0.1:38150/x?heartbeat=10`,
        },
      },
    ]);
    expect(byKind('federation-upstream-set')[0].value).toEqual([
      { upstream: 'up2' },
      { upstream: 'up1' },
    ]);
    expect(byKind('shovel')[0]).toMatchObject({ vhost: '/', name: 'sh1' });
    expect(byKind('policy')).toEqual([
      {
        kind: 'policy',
        vhost: 'v1',
        name: 'p3',
        value: {
          pattern: '^c',
          definition: { 'federation-upstream-set': 'set1' },
          priority: 2,
          'apply-to': 'exchanges',
        },
      },
    ]);
    // The default exchange and amq.* are skipped; x9 is in an unmanaged vhost.
    expect(byKind('exchange').map((o) => o.name)).toEqual(['x1', 'x2']);
    expect(byKind('exchange')[1].value).toEqual({
      type: 'direct',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: { 'alternate-exchange': 'x1' },
    });
    expect(byKind('queue').map((o) => o.name)).toEqual([
      'q1',
      'q3',
      'federation: fx -> crossdock-38000-dc1:probe-rk:fx',
    ]);
    expect(byKind('queue')[0].value).toEqual({
      durable: false,
      auto_delete: false,
      arguments: { 'x-max-length': 1000 },
    });
    // Implicit default-exchange bindings are skipped; two bindings differing only in arguments
    // share a key.
    const rk = (s: string, t: 'e' | 'q', d: string, k: string) =>
      bindingName({ source: s, destinationType: t, destination: d, routingKey: k });
    expect(byKind('binding')).toEqual([
      {
        kind: 'binding',
        vhost: 'v1',
        name: rk('x1', 'q', 'q1', 'a.#'),
        value: { arguments: { 'x-foo': 1 } },
      },
      { kind: 'binding', vhost: 'v1', name: rk('x1', 'q', 'q1', 'a.#'), value: { arguments: {} } },
      { kind: 'binding', vhost: 'v1', name: rk('x1', 'e', 'x2', ''), value: { arguments: {} } },
    ]);
  });

  it('asks for small listings: no statistics, only the columns it reads', async () => {
    const client = fakeClient(realListings());
    await observeBrokerState(client, ['v1']);
    const queues = client.calls.find((c) => c.path === '/api/queues');
    expect(queues?.opts?.query).toMatchObject({ disable_stats: true });
    expect(String(queues?.opts?.query?.columns)).toMatch(/vhost/);
    const exchanges = client.calls.find((c) => c.path === '/api/exchanges');
    expect(exchanges?.opts?.query).toMatchObject({ disable_stats: true });
    expect(
      client.calls.find((c) => c.path === '/api/bindings')?.opts?.query?.columns,
    ).toBeDefined();
  });

  it('takes the same number of requests for 10 or 5,000 objects', async () => {
    const many = (n: number) => {
      const bodies = realListings();
      bodies['/api/policies'] = Array.from({ length: n }, (_, i) => ({
        vhost: 'v1',
        name: `p${i}`,
        pattern: `^q${i}$`,
        'apply-to': 'queues',
        definition: { 'max-length': i + 1 },
        priority: 0,
      }));
      return bodies;
    };
    const small = await observeBrokerState(fakeClient(many(10)), ['v1']);
    const big = await observeBrokerState(fakeClient(many(5000)), ['v1']);
    expect(big.objects.filter((o) => o.kind === 'policy')).toHaveLength(5000);
    expect(big.requests).toBe(small.requests);
  });

  it('does nothing without managed vhosts', async () => {
    const client = fakeClient({});
    expect(await observeBrokerState(client, [])).toEqual({ objects: [], requests: 0 });
    expect(client.calls).toHaveLength(0);
  });

  it.each<[string, (b: Record<string, unknown>) => void]>([
    ['a listing that is not an array', (b) => (b['/api/queues'] = { error: 'x' })],
    ['a null item', (b) => (b['/api/policies'] = [null])],
    [
      'a queue without durable (partial columns)',
      (b) => (b['/api/queues'] = [{ vhost: 'v1', name: 'q', auto_delete: false, arguments: {} }]),
    ],
    [
      'a string priority',
      (b) => ((b['/api/policies'] as Record<string, unknown>[])[0].priority = '2'),
    ],
    [
      'a parameter without value',
      (b) => (b['/api/parameters/shovel'] = [{ vhost: '/', name: 's', component: 'shovel' }]),
    ],
    [
      'an item of another component',
      (b) =>
        ((b['/api/parameters/shovel'] as Record<string, unknown>[])[0].component =
          'federation-upstream'),
    ],
    [
      'a set member without upstream',
      (b) =>
        (b['/api/parameters/federation-upstream-set'] = [{ vhost: 'v1', name: 's', value: [{}] }]),
    ],
    [
      'an unknown destination type',
      (b) => ((b['/api/bindings'] as Record<string, unknown>[])[1].destination_type = 'stream'),
    ],
    [
      'garbage in an unmanaged vhost too',
      (b) => (b['/api/exchanges'] = [{ vhost: 'elsewhere', name: 'x' }]),
    ],
    [
      'one name with two values',
      (b) => {
        const p = (b['/api/policies'] as Record<string, unknown>[])[0];
        b['/api/policies'] = [p, { ...p, priority: 9 }];
      },
    ],
  ])('rejects %s with a BrokerProtocolError and no partial result', async (_name, spoil) => {
    const bodies = realListings();
    spoil(bodies);
    const err: unknown = await observeBrokerState(fakeClient(bodies), ['v1', '/']).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BrokerProtocolError);
    const pe = err as BrokerProtocolError;
    expect(pe.problem).toBe('wrong-shape');
    expect(pe.node).toBe('rabbit@n1');
    expect(pe.message).not.toContain(secret);
  });

  it('propagates a failed request instead of observing less', async () => {
    const timeout = new BrokerTimeoutError('GET', '/api/bindings', [], 1000);
    const err = await observeBrokerState(
      fakeClient(realListings(), (p) => (p === '/api/bindings' ? timeout : undefined)),
      ['v1'],
    ).catch((e: unknown) => e);
    expect(err).toBe(timeout);
  });

  it('accepts an identical repeat and an empty argument table written as []', () => {
    const q = { vhost: 'v', name: 'q', durable: true, auto_delete: false, arguments: [] };
    expect(parseListing('queue', [q, { ...q }], new Set(['v']))).toEqual([
      {
        kind: 'queue',
        vhost: 'v',
        name: 'q',
        value: { durable: true, auto_delete: false, arguments: {} },
      },
    ]);
    expect(() => parseListing('queue', [{ ...q, arguments: [1] }], new Set(['v']))).toThrow(
      ListingShapeError,
    );
  });
});

describe('redactObserved', () => {
  it('strips every credential and leaves the original alone', async () => {
    const state = await observeBrokerState(fakeClient(realListings()), ['v1', '/']);
    const shown = redactObserved(state);
    expect(JSON.stringify(shown)).not.toContain(secret);
    expect(JSON.stringify(shown)).toContain('amqp://u:(redacted)@127.0.0.1:38150/x?heartbeat=10');
    expect(JSON.stringify(state)).toContain(secret);
    expect(shown.objects).toHaveLength(state.objects.length);
  });
});

describe('observeBrokerState: broker version', () => {
  it('reads the version with one more GET when asked', async () => {
    const client = fakeClient({
      ...realListings(),
      '/api/overview': { rabbitmq_version: '3.10.8' },
    });
    const state = await observeBrokerState(client, ['v1'], { version: true });
    expect(state.brokerVersion).toBe('3.10.8');
    expect(state.requests).toBe(8);
    expect(client.calls.find((c) => c.path === '/api/overview')?.opts?.query).toMatchObject({
      columns: 'rabbitmq_version',
    });
  });

  it.each([{}, { rabbitmq_version: 3.1 }, { rabbitmq_version: 'latest' }, []])(
    'fails the whole observation on an overview without a version (%p)',
    async (body) => {
      const client = fakeClient({ ...realListings(), '/api/overview': body });
      await expect(observeBrokerState(client, ['v1'], { version: true })).rejects.toMatchObject({
        name: 'BrokerProtocolError',
        problem: 'wrong-shape',
      });
    },
  );

  it('leaves no rejection unhandled when a listing and the version both fail', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on('unhandledRejection', onUnhandled);
    try {
      const client = fakeClient(realListings(), (path) =>
        path === '/api/overview' || path === '/api/policies'
          ? new BrokerTimeoutError('GET', path, [], 10)
          : undefined,
      );
      await expect(observeBrokerState(client, ['v1'], { version: true })).rejects.toBeInstanceOf(
        BrokerTimeoutError,
      );
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
