import fc from 'fast-check';
import { objectKinds, type ObjectKind } from './broker-state';
import {
  canonicalText,
  canonicalValue,
  redactAfter,
  redactBrokerValue,
  sameValue,
  writeValue,
} from './canonical';

const secret = 's3cr3t-pw';

describe('canonicalValue', () => {
  describe.each<[string, ObjectKind, unknown, unknown]>([
    [
      'key order',
      'federation-upstream',
      { a: 1, uri: 'amqp://h', b: { y: 1, x: 2 } },
      { b: { x: 2, y: 1 }, uri: ['amqp://h'], a: 1 },
    ],
    [
      'uri string vs one-element list',
      'federation-upstream',
      { uri: 'amqp://u:p@h/v' },
      { uri: ['amqp://u:p@h/v'] },
    ],
    [
      'uri list order',
      'federation-upstream',
      { uri: ['amqp://b', 'amqp://a'] },
      { uri: ['amqp://a', 'amqp://b'] },
    ],
    [
      'shovel src/dest uri forms',
      'shovel',
      { 'src-uri': 'amqp://', 'dest-uri': ['amqp://y', 'amqp://x'] },
      { 'src-uri': ['amqp://'], 'dest-uri': ['amqp://x', 'amqp://y'] },
    ],
    [
      '1000 vs 1000.0 (the broker echoes 1.0e3)',
      'federation-upstream',
      { 'prefetch-count': 1000 },
      JSON.parse('{"prefetch-count": 1.0e3}'),
    ],
    [
      'policy defaults',
      'policy',
      { pattern: '^a', definition: { x: 1 } },
      { pattern: '^a', definition: { x: 1 }, priority: 0, 'apply-to': 'all' },
    ],
    [
      'policy priority 2.0 echoed as 2',
      'policy',
      JSON.parse('{"pattern":"^a","definition":{},"priority":2.0}'),
      { pattern: '^a', definition: {}, priority: 2 },
    ],
    [
      'exchange defaults',
      'exchange',
      { type: 'topic' },
      { type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} },
    ],
    ['queue defaults', 'queue', {}, { durable: true, auto_delete: false, arguments: {} }],
    [
      'queue classic type is the default type',
      'queue',
      { arguments: { 'x-queue-type': 'classic' } },
      {},
    ],
    ['binding arguments default', 'binding', {}, { arguments: {} }],
    [
      'upstream-set member order',
      'federation-upstream-set',
      [{ upstream: 'b' }, { upstream: 'a' }],
      [{ upstream: 'a' }, { upstream: 'b' }],
    ],
    [
      'undefined members',
      'policy',
      { pattern: '^a', definition: { x: 1, y: undefined } },
      { pattern: '^a', definition: { x: 1 } },
    ],
  ])('%s: equal', (_name, kind, a, b) => {
    it('compares equal', () => {
      expect(sameValue(kind, a, b)).toBe(true);
      expect(canonicalText(kind, a)).toBe(canonicalText(kind, b));
    });
  });

  describe.each<[string, ObjectKind, unknown, unknown]>([
    // Measured: the broker rejects numeric strings, so they are different values, never coerced.
    [
      '"1000" vs 1000',
      'federation-upstream',
      { 'prefetch-count': '1000' },
      { 'prefetch-count': 1000 },
    ],
    [
      '"5" vs 5 priority',
      'policy',
      { pattern: 'a', definition: {}, priority: '5' },
      { pattern: 'a', definition: {}, priority: 5 },
    ],
    [
      '"true" vs true',
      'federation-upstream',
      { 'trust-user-id': 'true' },
      { 'trust-user-id': true },
    ],
    [
      'one uri vs two',
      'federation-upstream',
      { uri: 'amqp://a' },
      { uri: ['amqp://a', 'amqp://b'] },
    ],
    [
      'duplicate uri weights the random pick',
      'federation-upstream',
      { uri: ['amqp://a', 'amqp://a'] },
      { uri: ['amqp://a'] },
    ],
    [
      'apply-to',
      'policy',
      { pattern: 'a', definition: {} },
      { pattern: 'a', definition: {}, 'apply-to': 'queues' },
    ],
    ['durable false vs default', 'exchange', { type: 'topic', durable: false }, { type: 'topic' }],
    ['quorum vs classic', 'queue', { arguments: { 'x-queue-type': 'quorum' } }, {}],
    ['binding arguments', 'binding', { arguments: { 'x-match': 'any' } }, {}],
    [
      'set member overrides',
      'federation-upstream-set',
      [{ upstream: 'a', 'max-hops': 2 }],
      [{ upstream: 'a' }],
    ],
    [
      'array order elsewhere matters',
      'policy',
      { pattern: 'a', definition: { 'ha-params': ['n1', 'n2'] } },
      { pattern: 'a', definition: { 'ha-params': ['n2', 'n1'] } },
    ],
    [
      'uri is only special where the broker pools it',
      'policy',
      { pattern: 'a', definition: { uri: 'x' } },
      { pattern: 'a', definition: { uri: ['x'] } },
    ],
  ])('%s: different', (_name, kind, a, b) => {
    it('compares different', () => {
      expect(sameValue(kind, a, b)).toBe(false);
    });
  });

  it('never throws on odd input and leaves non-objects alone', () => {
    for (const kind of objectKinds) {
      for (const v of [null, 1, 'x', [], {}, [1, 'a'], { uri: 5 }]) {
        expect(() => canonicalValue(kind, v)).not.toThrow();
      }
    }
    expect(canonicalValue('policy', 'x')).toBe('x');
  });

  const json: fc.Arbitrary<unknown> = fc.jsonValue();
  const valueFor = (kind: ObjectKind): fc.Arbitrary<unknown> =>
    kind === 'federation-upstream-set'
      ? fc.array(fc.record({ upstream: fc.string() }, { requiredKeys: ['upstream'] }))
      : fc.dictionary(
          fc.constantFrom(
            'uri',
            'src-uri',
            'dest-uri',
            'durable',
            'arguments',
            'apply-to',
            'priority',
            'x',
          ),
          fc.oneof(json, fc.array(fc.webUrl()), fc.webUrl()),
        );

  it('is idempotent (property)', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(...objectKinds)
          .chain((kind) => fc.tuple(fc.constant(kind), valueFor(kind))),
        ([kind, v]) => {
          const once = canonicalValue(kind, v);
          expect(canonicalValue(kind, once)).toEqual(once);
          expect(sameValue(kind, v, once)).toBe(true);
        },
      ),
    );
  });

  it('is insensitive to key order and uri/list forms (property)', () => {
    const uris = fc.array(fc.webUrl(), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(
        uris,
        fc.dictionary(
          fc.string().filter((k) => k !== 'uri'),
          fc.jsonValue(),
        ),
        (list, rest) => {
          const a: Record<string, unknown> = { ...rest, uri: list.length === 1 ? list[0] : list };
          const reversed: Record<string, unknown> = Object.fromEntries(
            Object.entries({ ...rest, uri: [...list].reverse() }).reverse(),
          );
          expect(sameValue('federation-upstream', a, reversed)).toBe(true);
        },
      ),
    );
  });
});

describe('writeValue', () => {
  it('makes crossdock defaults explicit where the management API would pick its own', () => {
    // Measured: PUT /api/queues/v/q with {} creates a NON-durable queue on 3.10.8.
    expect(writeValue('queue', {})).toEqual({ durable: true, auto_delete: false, arguments: {} });
    expect(writeValue('exchange', { type: 'fanout', durable: false })).toEqual({
      type: 'fanout',
      durable: false,
      auto_delete: false,
      internal: false,
      arguments: {},
    });
    expect(writeValue('policy', { pattern: 'a', definition: {} })).toEqual({
      pattern: 'a',
      definition: {},
      priority: 0,
      'apply-to': 'all',
    });
    expect(writeValue('binding', {})).toEqual({ arguments: {} });
  });

  it('sends parameters as given (a uri string stays a string)', () => {
    const v = { uri: 'amqp://h', 'prefetch-count': 10 };
    expect(writeValue('federation-upstream', v)).toBe(v);
    const set = [{ upstream: 'b' }, { upstream: 'a' }];
    expect(writeValue('federation-upstream-set', set)).toBe(set);
  });

  it('never changes the canonical form', () => {
    for (const [kind, v] of [
      ['queue', { arguments: { 'x-queue-type': 'classic' } }],
      ['exchange', { type: 'x' }],
      ['policy', { pattern: 'p', definition: {} }],
      ['binding', {}],
    ] as const) {
      expect(sameValue(kind, v, writeValue(kind, v))).toBe(true);
    }
  });
});

describe('redaction', () => {
  it('strips passwords from every URI, deep, in strings and lists', () => {
    const v = {
      uri: [`amqp://user:${secret}@h1/v`, `amqps://user:${secret}@h2:5671/v?heartbeat=10`],
      'dest-uri': `amqp://u:${secret}@h3`,
      nested: { list: [{ x: `see amqp://a:${secret}@b` }] },
      n: 1,
    };
    const r = redactBrokerValue(v);
    expect(JSON.stringify(r)).not.toContain(secret);
    expect(r.uri[0]).toBe('amqp://user:(redacted)@h1/v');
    expect(r.n).toBe(1);
    expect(v.uri[0]).toContain(secret);
  });

  it('shows a password rotation as (changed) without either password', () => {
    const before = [`amqp://u:old-${secret}@h/v`];
    const after = [`amqp://u:new-${secret}@h/v`];
    expect(redactAfter(before, after)).toEqual(['amqp://u:(changed)@h/v']);
    expect(redactAfter(before, [`amqp://u:old-${secret}@h2/v`])).toEqual([
      'amqp://u:(redacted)@h2/v',
    ]);
    expect(JSON.stringify(redactAfter(undefined, after))).not.toContain(secret);
  });
});

/** CPU milliseconds this process spends in `f` (wall time would count other processes' load). */
function cpuMs(f: () => void): number {
  const before = process.cpuUsage();
  f();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

describe('bounded work on hostile broker values', () => {
  // 120 KB strings shaped to make an unbounded URI pattern backtrack (seconds each before).
  const hostile = [
    `${'a'.repeat(120_000)}://`,
    `x://${'u'.repeat(120_000)}`,
    `x://u:${'p'.repeat(120_000)}`,
    'ab://c:d'.repeat(15_000),
    `${'a1+.-'.repeat(24_000)}://u:p`,
  ];
  it.each(hostile.map((s, i) => [i, s]))('plan redaction of value %i stays fast', (_i, s) => {
    const value = { uri: [s], 'trust-user-id': false, extra: s };
    // Unbounded repetitions made each of these cost seconds to tens of seconds.
    const used = cpuMs(() => {
      canonicalText('federation-upstream', value);
      redactAfter({ uri: [`amqp://u:old@h/v`, s] }, value);
      redactBrokerValue(value);
    });
    expect(used).toBeLessThan(1000);
  });
  it('still redacts a URI next to 120 KB of text', () => {
    const s = `${'z'.repeat(120_000)} amqp://u:new-secret@h/v`;
    expect(JSON.stringify(redactAfter(['amqp://u:old@h/v'], [s]))).not.toContain('new-secret');
  });
});
