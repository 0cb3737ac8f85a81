import fc from 'fast-check';
import type { FederationSettings } from './link-settings';
import type { ShovelSettings } from './link-settings';
import { linkDefaults } from './defaults';
import {
  decodeUpstream,
  encodeUpstream,
  resolvedFederationSettings,
  type UpstreamModel,
} from './federation-upstream.codec';
import { amqpUri, linkUris, localUri, parseAmqpUri, resolveLinkUris, sessionUri } from './link-uri';
import { decodePolicy, encodePolicy, type PolicyModel } from './policy.codec';
import {
  decodeShovel,
  encodeShovel,
  linkShovelKeys,
  resolvedShovelSettings,
  type ShovelModel,
} from './shovel.codec';
import { decodeUpstreamSet, encodeUpstreamSet } from './upstream-set.codec';
import {
  decodePermissions,
  decodeUser,
  encodePermissions,
  encodeUser,
  linkUserPermissions,
  rabbitPasswordHash,
} from './user.codec';

const ackMode = fc.constantFrom('on-confirm', 'on-publish', 'no-ack' as const);
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const text = fc.string({ minLength: 1, maxLength: 12 });
const uri = fc
  .record({ host: fc.domain(), port: fc.integer({ min: 1, max: 65535 }), vhost: fc.string() })
  .map((t) => amqpUri({ ...t, credentials: { username: 'u', password: 'p@ss/:?' } }));

const federationSettings: fc.Arbitrary<FederationSettings> = fc.record(
  {
    prefetchCount: fc.integer({ min: 1, max: 65535 }),
    ackMode,
    maxHops: fc.integer({ min: 1, max: 10 }),
    expiresMs: fc.integer({ min: 1, max: 2147483647 }),
    messageTtlMs: fc.integer({ min: 0, max: 2147483647 }),
    reconnectDelaySeconds: fc.integer({ min: 0, max: 3600 }),
    trustUserId: fc.boolean(),
    queueType: fc.constantFrom('classic', 'quorum' as const),
  },
  { requiredKeys: [] },
);

const upstream: fc.Arbitrary<UpstreamModel> = fc.record(
  {
    uris: fc.array(uri, { minLength: 1, maxLength: 3 }),
    kind: fc.constantFrom('exchange', 'queue' as const),
    settings: federationSettings,
    keepBacklog: fc.boolean(),
    upstreamObject: fc.string({ minLength: 1, maxLength: 255 }),
  },
  { requiredKeys: ['uris', 'kind', 'settings', 'keepBacklog'] },
);

describe('federation upstream codec', () => {
  it('decode(encode(m)) is m with crossdock defaults filled in', () => {
    fc.assert(
      fc.property(upstream, (m) => {
        const d = decodeUpstream(encodeUpstream(m), m.kind);
        expect(d).toEqual({
          ok: true,
          model: { ...m, settings: resolvedFederationSettings(m.settings, m.kind) },
        });
      }),
    );
  });

  it('writes every default explicitly, max-hops only for exchanges', () => {
    const uris = ['amqp://h/x'];
    expect(encodeUpstream({ uris, kind: 'exchange', settings: {}, keepBacklog: true })).toEqual({
      uri: uris,
      'ack-mode': linkDefaults.ackMode,
      'prefetch-count': 1000,
      'reconnect-delay': 5,
      'trust-user-id': false,
      'max-hops': 1,
      'resource-cleanup-mode': 'never',
    });
    expect(
      encodeUpstream({ uris, kind: 'queue', settings: { maxHops: 3 }, keepBacklog: false }),
    ).not.toHaveProperty('max-hops');
  });

  it('names the upstream exchange or queue with the key of its kind, reads the other kind as ignored', () => {
    const uris = ['amqp://h/x'];
    expect(
      encodeUpstream({
        uris,
        kind: 'queue',
        settings: {},
        keepBacklog: false,
        upstreamObject: 'to_fega',
      }),
    ).toMatchObject({ queue: 'to_fega' });
    const x = encodeUpstream({
      uris,
      kind: 'exchange',
      settings: {},
      keepBacklog: false,
      upstreamObject: 'orders.up',
    });
    expect(x).toMatchObject({ exchange: 'orders.up' });
    expect(x).not.toHaveProperty('queue');
    const d = decodeUpstream({ uri: 'amqp://h', queue: 'to_fega', exchange: 'x' }, 'queue');
    expect(d).toMatchObject({ ok: true, model: { upstreamObject: 'to_fega' } });
    expect(decodeUpstream({ uri: 'amqp://h', queue: '' }, 'queue')).toMatchObject({ ok: false });
  });

  it('names keys it does not express, never their values', () => {
    const d = decodeUpstream(
      { uri: 'amqp://u:secret@h', 'consumer-tag': 'x', 'max-hops': 0 },
      'exchange',
    );
    expect(d).toEqual({
      ok: false,
      reason:
        'upstream keys crossdock does not express (or values out of range): consumer-tag, max-hops',
    });
  });
});

const shovelSettings: fc.Arbitrary<ShovelSettings> = fc.record(
  {
    ackMode,
    prefetchCount: fc.integer({ min: 1, max: 65535 }),
    reconnectDelaySeconds: fc.integer({ min: 0, max: 3600 }),
    deleteAfter: fc.oneof(
      fc.constantFrom('never', 'queue-length' as const),
      fc.integer({ min: 1, max: 1e9 }),
    ),
    addForwardHeaders: fc.boolean(),
    addTimestampHeader: fc.boolean(),
  },
  { requiredKeys: [] },
);
const args = opt(fc.dictionary(text, fc.oneof(fc.integer(), fc.string())));

const shovel: fc.Arbitrary<ShovelModel> = fc
  .record({
    sourceUris: fc.array(uri, { minLength: 1, maxLength: 2 }),
    source: fc.oneof(
      fc.record({ sourceQueue: text, sourceQueueArgs: args }),
      fc.record({ sourceExchange: text, sourceExchangeKey: opt(fc.string()) }),
    ),
    consumerArgs: args,
    destinationUris: fc.array(uri, { minLength: 1, maxLength: 2 }),
    destination: fc.oneof(
      fc.record({ destinationQueue: text, destinationQueueArgs: args }),
      fc.record({ destinationExchange: text, destinationExchangeKey: opt(fc.string()) }),
    ),
    settings: shovelSettings,
  })
  .map(({ source, destination, ...rest }) => {
    const m = { ...rest, ...source, ...destination } as Record<string, unknown>;
    for (const k of Object.keys(m)) if (m[k] === undefined) delete m[k];
    return m as unknown as ShovelModel;
  });

describe('shovel codec', () => {
  it('decode(encode(m)) is m with every setting explicit', () => {
    fc.assert(
      fc.property(shovel, (m) => {
        expect(decodeShovel(encodeShovel(m))).toEqual({
          ok: true,
          model: { ...m, settings: resolvedShovelSettings(m.settings) },
        });
      }),
    );
  });

  it('a user shovel refuses the keys only crossdock sets, before anything else', () => {
    const v = encodeShovel({
      sourceUris: [localUri('/')],
      sourceQueue: 'q',
      consumerArgs: { 'x-priority': -1 },
      destinationUris: ['amqp://h/'],
      destinationQueue: 'r',
      settings: { prefetchCount: 0 },
    });
    expect(decodeShovel(v, linkShovelKeys)).toMatchObject({ ok: false, stage: 'keys' });
    expect(decodeShovel(v)).toMatchObject({ ok: false, stage: 'values' });
  });
});

const policy: fc.Arbitrary<PolicyModel> = fc.record({
  pattern: fc.string(),
  definition: fc.dictionary(text, fc.oneof(fc.integer(), fc.string(), fc.boolean())),
  priority: fc.integer({ min: 0, max: 999 }),
  applyTo: fc.constantFrom('all', 'queues', 'exchanges', 'quorum_queues'),
});

describe('policy and upstream set codecs', () => {
  it('policy: decode(encode(m)) is m', () => {
    fc.assert(fc.property(policy, (m) => expect(decodePolicy(encodePolicy(m))).toEqual(m)));
  });

  it("policy: reads the broker's defaults for what is left out", () => {
    expect(decodePolicy({ pattern: '^a' })).toEqual({
      pattern: '^a',
      definition: {},
      priority: 0,
      applyTo: 'all',
    });
  });

  it('upstream set: decode(encode(names)) is names', () => {
    fc.assert(
      fc.property(fc.array(text), (names) =>
        expect(decodeUpstreamSet(encodeUpstreamSet(names))).toEqual(names),
      ),
    );
  });
});

describe('user and permissions codecs', () => {
  it('round-trips the link user and its permissions', () => {
    const passwordHash = rabbitPasswordHash('secret', '00112233');
    expect(decodeUser(encodeUser({ passwordHash, tags: '' }))).toEqual({ passwordHash, tags: '' });
    expect(decodeUser({ password_hash: passwordHash, tags: ['a', 'b'] }).tags).toBe('a,b');
    expect(decodePermissions(encodePermissions(linkUserPermissions))).toEqual(linkUserPermissions);
    expect(decodePermissions({ configure: 1 })).toBeUndefined();
  });

  it('hashes like rabbit_password_hashing_sha256 (salt kept: deterministic)', () => {
    const h = rabbitPasswordHash('pw', 'a1b2c3d4');
    expect(Buffer.from(h, 'base64').subarray(0, 4).toString('hex')).toBe('a1b2c3d4');
    expect(rabbitPasswordHash('pw', 'a1b2c3d4')).toBe(h);
  });
});

describe('link URIs', () => {
  const credentials = { username: 'link user', password: 'p@ss:/?#' };

  it('builds user, password and vhost percent-encoded, params in order', () => {
    expect(
      amqpUri({
        host: 'h',
        port: 5672,
        vhost: '/',
        credentials,
        params: { heartbeat: 10, a: 'x y' },
      }),
    ).toBe('amqp://link%20user:p%40ss%3A%2F%3F%23@h:5672/%2F?heartbeat=10&a=x%20y');
    expect(localUri('v/1')).toBe('amqp:///v%2F1');
    expect(amqpUri({ host: '::1', port: 5672, vhost: 'v' })).toBe('amqp://[::1]:5672/v');
  });

  it('parseAmqpUri reads back what amqpUri builds (never the credentials)', () => {
    fc.assert(
      fc.property(
        fc.record({
          host: fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6()),
          port: fc.integer({ min: 1, max: 65535 }),
          vhost: fc.string(),
          withCredentials: fc.boolean(),
        }),
        ({ withCredentials, ...t }) => {
          const u = amqpUri({ ...t, ...(withCredentials ? { credentials } : {}) });
          expect(parseAmqpUri(u)).toEqual({
            host: t.host.toLowerCase(),
            port: t.port,
            vhost: t.vhost === '' ? '/' : t.vhost,
            hasCredentials: withCredentials,
          });
        },
      ),
    );
  });

  it('the link URI pool: load balancer first, else the endpoints; sorted; heartbeat and timeout', () => {
    const reach = {
      loadBalancer: null,
      linkEndpoints: [
        { host: 'b', port: 5672 },
        { host: 'a', port: 5673 },
      ],
      credentials: { username: 'u', password: 'p' },
    };
    expect(resolveLinkUris(reach, '/')).toEqual([
      'amqp://u:p@a:5673/%2F?heartbeat=10&connection_timeout=10000',
      'amqp://u:p@b:5672/%2F?heartbeat=10&connection_timeout=10000',
    ]);
    expect(resolveLinkUris({ ...reach, loadBalancer: { host: 'lb', port: 1 } }, 'v')).toEqual([
      'amqp://u:p@lb:1/v?heartbeat=10&connection_timeout=10000',
    ]);
    expect(resolveLinkUris({ ...reach, credentials: undefined }, 'v')).toEqual([]);
    expect(
      linkUris(
        {
          clusters: { c: { siteId: 's', linkEndpoints: reach.linkEndpoints } },
          sites: { s: { loadBalancer: null } },
          linkCredentials: {},
        },
        'c',
        '/',
      ),
    ).toEqual([]);
  });

  it("crossdock's own sessions: the same builder, with their heartbeat", () => {
    expect(sessionUri({ username: 'a', password: 'b' }, '/')({ host: 'h', port: 1 })).toBe(
      'amqp://a:b@h:1/%2F?heartbeat=5',
    );
  });
});
