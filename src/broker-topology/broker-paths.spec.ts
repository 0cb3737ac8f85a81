import fc from 'fast-check';
import type { ObjectKey } from './broker-objects';
import {
  bindingCollectionPath,
  bindingName,
  bindingPath,
  describeKey,
  federationLinkRestartPath,
  federationQueueName,
  isBuiltinExchange,
  objectPath,
  observationListings,
  parseBindingName,
  shovelRestartPath,
  parseFederationQueueName,
  selfDeletion,
  federatedExchangeOf,
  federationExchangeName,
  writeRequest,
} from './broker-paths';

const binding = (vhost: string, source: string, t: 'e' | 'q', dest: string, rk: string) =>
  ({
    kind: 'binding',
    vhost,
    name: bindingName({ source, destinationType: t, destination: dest, routingKey: rk }),
  }) satisfies ObjectKey;

describe('objectPath', () => {
  it.each([
    [
      'federation-upstream',
      '/',
      'crossdock.up.a',
      '/api/parameters/federation-upstream/%2F/crossdock.up.a',
    ],
    ['federation-upstream-set', 'v1', 's', '/api/parameters/federation-upstream-set/v1/s'],
    ['shovel', 'a/b', 'crossdock.sh.x y', '/api/parameters/shovel/a%2Fb/crossdock.sh.x%20y'],
    ['policy', '/', 'p#1?', '/api/policies/%2F/p%231%3F'],
    ['exchange', 'v', 'orders', '/api/exchanges/v/orders'],
    ['queue', 'v', 'a/b%c', '/api/queues/v/a%2Fb%25c'],
  ] as const)('%s %j %j -> %s', (kind, vhost, name, path) => {
    expect(objectPath({ kind, vhost, name })).toBe(path);
  });

  it('refuses names the management API cannot address', () => {
    expect(() => objectPath({ kind: 'queue', vhost: 'v', name: '.' })).toThrow(RangeError);
    expect(() => objectPath({ kind: 'queue', vhost: 'v', name: '..' })).toThrow(RangeError);
    expect(() => objectPath({ kind: 'queue', vhost: '', name: 'q' })).toThrow(RangeError);
  });

  it('has no single path for a binding', () => {
    expect(() => objectPath(binding('v', 'x', 'q', 'q', 'k'))).toThrow(/properties key/);
  });
});

describe('binding paths', () => {
  it('lists and creates between source and destination, queue or exchange', () => {
    expect(bindingCollectionPath(binding('/', 'orders', 'q', 'orders.local', '#'))).toBe(
      '/api/bindings/%2F/e/orders/q/orders.local',
    );
    expect(bindingCollectionPath(binding('v', 'a b', 'e', 'c/d', ''))).toBe(
      '/api/bindings/v/e/a%20b/e/c%2Fd',
    );
  });

  it('encodes the already-quoted properties_key once more (measured on 3.10.8)', () => {
    const key = binding('v', 'x1', 'q', 'q1', 'a/b%c');
    expect(bindingPath(key, 'a%2Fb%25c')).toBe('/api/bindings/v/e/x1/q/q1/a%252Fb%2525c');
    expect(bindingPath(key, '~')).toBe('/api/bindings/v/e/x1/q/q1/~');
    expect(bindingPath(key, 'a.%23~2DTBwQ')).toBe('/api/bindings/v/e/x1/q/q1/a.%2523~2DTBwQ');
  });

  it('cannot address the default exchange', () => {
    expect(() => bindingCollectionPath(binding('v', '', 'q', 'q', 'q'))).toThrow(RangeError);
  });

  it('round-trips binding names, including separators inside the routing key', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((s) => !s.includes('\u0000')),
        fc.constantFrom('e' as const, 'q' as const),
        fc.string({ minLength: 1 }).filter((s) => !s.includes('\u0000')),
        fc.string(),
        (source, destinationType, destination, routingKey) => {
          const parts = { source, destinationType, destination, routingKey };
          expect(parseBindingName(bindingName(parts))).toEqual(parts);
        },
      ),
    );
  });

  it('rejects malformed binding names', () => {
    expect(() => parseBindingName('x')).toThrow(RangeError);
    expect(() => parseBindingName('x\u0000z\u0000q\u0000k')).toThrow(RangeError);
    expect(() => parseBindingName('x\u0000q\u0000q')).toThrow(RangeError);
  });
});

describe('writeRequest', () => {
  it('wraps parameters in {value}', () => {
    const value = { uri: 'amqp://u:p@h/v' };
    expect(writeRequest({ kind: 'federation-upstream', vhost: '/', name: 'u' }, value)).toEqual({
      method: 'PUT',
      path: '/api/parameters/federation-upstream/%2F/u',
      body: { value },
    });
    const set = [{ upstream: 'a' }];
    expect(
      writeRequest({ kind: 'federation-upstream-set', vhost: 'v', name: 's' }, set).body,
    ).toEqual({ value: set });
  });

  it('sends policies, exchanges and queues as they are', () => {
    const policy = {
      pattern: '^a$',
      definition: { 'max-length': 1 },
      priority: 1,
      'apply-to': 'queues',
    };
    expect(writeRequest({ kind: 'policy', vhost: 'v', name: 'p' }, policy)).toEqual({
      method: 'PUT',
      path: '/api/policies/v/p',
      body: policy,
    });
    expect(writeRequest({ kind: 'queue', vhost: 'v', name: 'q' }, { durable: true }).body).toEqual({
      durable: true,
    });
  });

  it('POSTs a binding with its routing key and arguments', () => {
    expect(
      writeRequest(binding('v', 'x', 'q', 'q', 'a.#'), { arguments: { 'x-match': 'all' } }),
    ).toEqual({
      method: 'POST',
      path: '/api/bindings/v/e/x/q/q',
      body: { routing_key: 'a.#', arguments: { 'x-match': 'all' } },
    });
    expect(writeRequest(binding('v', 'x', 'e', 'y', ''), {}).body).toEqual({
      routing_key: '',
      arguments: {},
    });
  });
});

describe('observationListings', () => {
  it('is a constant set of cluster-wide listings, one per kind, small columns for big ones', () => {
    expect(observationListings.map((l) => l.kind).sort()).toEqual([
      'binding',
      'exchange',
      'federation-upstream',
      'federation-upstream-set',
      'policy',
      'queue',
      'shovel',
    ]);
    for (const l of observationListings) expect(l.path).not.toMatch(/\?/);
    const q = observationListings.find((l) => l.kind === 'queue');
    expect(q?.query).toMatchObject({ disable_stats: true });
    expect(String(q?.query?.columns)).toContain('vhost');
    const b = observationListings.find((l) => l.kind === 'binding');
    expect(String(b?.query?.columns).split(',')).toEqual(
      expect.arrayContaining([
        'vhost',
        'source',
        'destination',
        'destination_type',
        'routing_key',
        'arguments',
      ]),
    );
  });
});

describe('federation queue names (3.10 exchange-federation upstream queues)', () => {
  const base = { vhost: 'up', exchange: 'fx', downstreamCluster: 'dc1' };
  it.each([
    [{ downstreamVhost: 'up', downstreamExchange: 'fx' }, 'federation: fx -> dc1'],
    [{ downstreamVhost: 'up', downstreamExchange: 'fy' }, 'federation: fx -> dc1:fy'],
    // Measured: upstream vhost probe-up, downstream probe-rk -> "federation: fx -> <cluster>:probe-rk:fx".
    [{ downstreamVhost: 'down', downstreamExchange: 'fx' }, 'federation: fx -> dc1:down:fx'],
  ])('%j -> %s', (extra, name) => {
    expect(federationQueueName({ ...base, ...extra })).toBe(name);
  });

  it('reads exchange and downstream back for reports', () => {
    expect(parseFederationQueueName('federation: fx -> crossdock-38000-dc1:probe-rk:fx')).toEqual({
      exchange: 'fx',
      downstream: 'crossdock-38000-dc1:probe-rk:fx',
    });
    expect(parseFederationQueueName('orders')).toBeUndefined();
    expect(parseFederationQueueName('federation: odd')).toBeUndefined();
  });
});

describe('federatedExchangeOf (which exchange a federation queue copies, for one link)', () => {
  const same = { vhost: 'up', downstreamCluster: 'dc1', downstreamVhost: 'up' };
  const other = { vhost: 'up', downstreamCluster: 'dc1', downstreamVhost: 'down' };

  it('reads back every name federationQueueName builds for a same-name exchange', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.constantFrom(same, other),
        (x, link) => {
          const name = federationQueueName({ ...link, exchange: x, downstreamExchange: x });
          expect(federatedExchangeOf(name, link)).toBe(x);
        },
      ),
    );
  });

  it.each([
    ['federation: a -> b -> dc1', same, 'a -> b'],
    ['federation: orders -> dc1:down:orders', other, 'orders'],
    ['federation: orders -> dc1', other, undefined],
    ['federation: orders -> dc2', same, undefined],
    ['federation: orders -> dc1:down:other', other, undefined],
    ['federation: orders -> dc1:fy', same, undefined],
    ['orders -> dc1', same, undefined],
    ['federation:  -> dc1', same, undefined],
  ])('%s -> %s', (name, link, exchange) => {
    expect(federatedExchangeOf(name, link)).toBe(exchange);
  });

  it('names the internal exchange in front of the queue (measured on 3.10.8)', () => {
    expect(federationExchangeName('federation: ev -> crossdock-38000-dc2')).toBe(
      'federation: ev -> crossdock-38000-dc2 B',
    );
  });
});

describe('helpers', () => {
  it('knows the built-in exchanges', () => {
    expect(isBuiltinExchange('')).toBe(true);
    expect(isBuiltinExchange('amq.topic')).toBe(true);
    expect(isBuiltinExchange('orders')).toBe(false);
  });

  it('describes keys readably', () => {
    expect(describeKey({ kind: 'policy', vhost: '/', name: 'p' })).toBe('policy "p" in vhost "/"');
    expect(describeKey(binding('v', 'x', 'q', 'q1', '#'))).toBe(
      'binding "x" -> queue "q1" key "#" in vhost "v"',
    );
  });
});

describe('selfDeletion', () => {
  it.each([
    ['shovel', { 'src-delete-after': 50 }, 'once'],
    ['shovel', { 'src-delete-after': 'queue-length' }, 'once'],
    ['shovel', { 'src-delete-after': 'never' }, undefined],
    ['shovel', {}, undefined],
    ['queue', { durable: true, auto_delete: true }, 'transient'],
    ['queue', { durable: true, arguments: { 'x-expires': 1000 } }, 'transient'],
    ['queue', { durable: true, auto_delete: false, arguments: {} }, undefined],
    ['exchange', { type: 'fanout', auto_delete: true }, 'transient'],
    ['policy', { pattern: '.*', definition: { expires: 1 } }, undefined],
    ['federation-upstream', { uri: 'amqp://x', expires: 1000 }, undefined],
  ] as const)('%s %j -> %s', (kind, value, mode) => {
    expect(selfDeletion(kind, value)?.mode).toBe(mode);
  });
});

describe('restart paths', () => {
  it('addresses one federation link by vhost, link id and node, every part one segment', () => {
    expect(federationLinkRestartPath('/', '5f1a9c', 'rabbit@dc2-a')).toBe(
      '/api/federation-links/vhost/%2F/5f1a9c/rabbit%40dc2-a/restart',
    );
  });

  it('addresses one shovel by vhost and name', () => {
    expect(shovelRestartPath('v/1', 'crossdock.sh.a b')).toBe(
      '/api/shovels/vhost/v%2F1/crossdock.sh.a%20b/restart',
    );
  });
});
