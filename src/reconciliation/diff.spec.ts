import fc from 'fast-check';
import type {
  DesiredObject,
  DesiredState,
  ObjectKind,
  ObservedObject,
  PlanOp,
} from './broker-state';
import { bindingName, objectId } from '../broker-topology/broker-paths';
import { writeValue } from './canonical';
import { diffStates, opStage, redactPlan, type CreateOp, type OwnershipEntry } from './diff';

const pw = 'Sup3r-s3cret';
const uri = (host: string, pass = pw) => `amqp://link:${pass}@${host}:5672/v?heartbeat=10`;

const d = (
  kind: ObjectKind,
  name: string,
  value: DesiredObject['value'],
  extra: Partial<DesiredObject> = {},
): DesiredObject => ({ kind, vhost: 'v', name, value, owner: `link:${name}`, ...extra });
const o = (
  kind: ObjectKind,
  name: string,
  value: ObservedObject['value'],
  vhost = 'v',
): ObservedObject => ({
  kind,
  vhost,
  name,
  value,
});
const own = (
  kind: ObjectKind,
  name: string,
  extra: Partial<OwnershipEntry> = {},
): OwnershipEntry => ({
  kind,
  vhost: 'v',
  name,
  owner: `link:${name}`,
  ...extra,
});
const state = (objects: DesiredObject[], vhosts = ['v']): DesiredState => ({
  clusterId: 'c1',
  vhosts,
  objects,
  warnings: [],
});
const observed = (objects: ObservedObject[]) => ({ objects, requests: 7 });
const bname = (source: string, t: 'e' | 'q', dest: string, rk: string) =>
  bindingName({ source, destinationType: t, destination: dest, routingKey: rk });

const upstream = {
  uri: [uri('h1'), uri('h2')],
  'prefetch-count': 1000,
  'resource-cleanup-mode': 'never',
};
const policy = {
  pattern: '^orders$',
  definition: { 'federation-upstream': 'crossdock.up.a' },
  priority: 5,
  'apply-to': 'exchanges',
};

describe('diffStates: creates, updates, no-ops', () => {
  it('creates what is missing, with crossdock defaults explicit', () => {
    const plan = diffStates(
      state([
        d('queue', 'backup', {}, { ensureOnly: true }),
        d('federation-upstream', 'crossdock.up.a', upstream),
      ]),
      observed([]),
      [],
    );
    expect(plan.ops).toEqual([
      {
        op: 'create',
        key: { kind: 'queue', vhost: 'v', name: 'backup' },
        after: { durable: true, auto_delete: false, arguments: {} },
        owner: 'link:backup',
        ensureOnly: true,
      },
      {
        op: 'create',
        key: { kind: 'federation-upstream', vhost: 'v', name: 'crossdock.up.a' },
        after: upstream,
        owner: 'link:crossdock.up.a',
      },
    ]);
    expect((plan.ops[1] as CreateOp).ensureOnly).toBeUndefined();
    expect(plan.findings).toEqual([]);
  });

  it('writes nothing when the broker holds the same thing in another form', () => {
    const plan = diffStates(
      state([
        d('federation-upstream', 'crossdock.up.a', { uri: uri('h1'), 'prefetch-count': 1000 }),
        d('policy', 'crossdock.p', { pattern: '^a', definition: { x: 1 } }),
        d('exchange', 'orders', { type: 'topic' }, { ensureOnly: true }),
        d('federation-upstream-set', 'crossdock.set', [{ upstream: 'a' }, { upstream: 'b' }]),
      ]),
      observed([
        o(
          'federation-upstream',
          'crossdock.up.a',
          JSON.parse(`{"uri":["${uri('h1')}"],"prefetch-count":1.0e3}`),
        ),
        o('policy', 'crossdock.p', {
          pattern: '^a',
          definition: { x: 1 },
          priority: 0,
          'apply-to': 'all',
        }),
        o('exchange', 'orders', {
          type: 'topic',
          durable: true,
          auto_delete: false,
          internal: false,
          arguments: {},
        }),
        o('federation-upstream-set', 'crossdock.set', [{ upstream: 'b' }, { upstream: 'a' }]),
      ]),
      [
        own('federation-upstream', 'crossdock.up.a'),
        own('policy', 'crossdock.p'),
        own('federation-upstream-set', 'crossdock.set'),
      ],
    );
    expect(plan).toEqual({ ops: [], findings: [] });
  });

  it('updates an owned object with field-level, redacted changes; redactPlan hides the rest', () => {
    const before = {
      uri: [uri('h1', 'old-pass-1'), uri('h2', 'old-pass-1')],
      'prefetch-count': 500,
    };
    const plan = diffStates(
      state([d('federation-upstream', 'crossdock.up.a', upstream)]),
      observed([o('federation-upstream', 'crossdock.up.a', before)]),
      [own('federation-upstream', 'crossdock.up.a')],
    );
    expect(plan.ops).toHaveLength(1);
    const op = plan.ops[0] as Extract<PlanOp, { op: 'update' }>;
    expect(op.op).toBe('update');
    // The applier needs the real values.
    expect(op.after).toEqual(upstream);
    expect(op.before).toEqual(before);
    expect(op.changes).toEqual([
      { path: 'prefetch-count', before: 500, after: 1000 },
      { path: 'resource-cleanup-mode', after: 'never' },
      {
        path: 'uri',
        before: [
          'amqp://link:(redacted)@h1:5672/v?heartbeat=10',
          'amqp://link:(redacted)@h2:5672/v?heartbeat=10',
        ],
        after: [
          'amqp://link:(changed)@h1:5672/v?heartbeat=10',
          'amqp://link:(changed)@h2:5672/v?heartbeat=10',
        ],
      },
    ]);
    expect(JSON.stringify(op.changes)).not.toMatch(/old-pass-1|Sup3r/);
    const shown = JSON.stringify(redactPlan(plan));
    expect(shown).not.toMatch(/old-pass-1|Sup3r/);
    expect(shown).toContain('(changed)');
    // redactPlan copies: the plan itself keeps its real values.
    expect(JSON.stringify(plan.ops[0])).toContain(pw);
  });

  it('heals drift: an owned object deleted by hand is created again, with a finding', () => {
    const plan = diffStates(state([d('policy', 'crossdock.p', policy)]), observed([]), [
      own('policy', 'crossdock.p'),
    ]);
    expect(plan.ops.map((x) => [x.op, x.key.name])).toEqual([['create', 'crossdock.p']]);
    expect(plan.findings).toEqual([
      expect.objectContaining({
        kind: 'drift',
        key: { kind: 'policy', vhost: 'v', name: 'crossdock.p' },
      }),
    ]);
  });
});

describe('diffStates: ownership', () => {
  it('deletes only owned objects that are no longer desired', () => {
    const plan = diffStates(
      state([]),
      observed([
        o('shovel', 'crossdock.sh.old', { 'src-uri': 'amqp://' }),
        o('policy', 'user-policy', policy),
        o('federation-upstream', 'user-up', upstream),
      ]),
      [own('shovel', 'crossdock.sh.old'), own('policy', 'crossdock.gone-already')],
    );
    expect(plan.ops).toEqual([
      {
        op: 'delete',
        key: { kind: 'shovel', vhost: 'v', name: 'crossdock.sh.old' },
        before: { 'src-uri': 'amqp://' },
        owner: 'link:crossdock.sh.old',
      },
    ]);
    expect(plan.findings).toEqual([]);
  });

  it('reports, never touches, an unowned object with a crossdock name', () => {
    const plan = diffStates(state([]), observed([o('policy', 'crossdock.stray', policy)]), []);
    expect(plan.ops).toEqual([]);
    expect(plan.findings).toEqual([
      expect.objectContaining({
        kind: 'unmanaged-conflict',
        key: { kind: 'policy', vhost: 'v', name: 'crossdock.stray' },
      }),
    ]);
  });

  it('does not update a desired object that exists but is not owned', () => {
    const plan = diffStates(
      state([d('policy', 'crossdock.p', policy)]),
      observed([o('policy', 'crossdock.p', { ...policy, priority: 1 })]),
      [],
    );
    expect(plan.ops).toEqual([]);
    expect(plan.findings).toEqual([expect.objectContaining({ kind: 'unmanaged-conflict' })]);
    expect(plan.findings[0].detail).toMatch(/priority/);
    const same = diffStates(
      state([d('policy', 'crossdock.p', policy)]),
      observed([o('policy', 'crossdock.p', policy)]),
      [],
    );
    expect(same.ops).toEqual([]);
    expect(same.findings).toEqual([expect.objectContaining({ kind: 'unmanaged-conflict' })]);
    expect(same.findings[0].detail).toMatch(/adopted/);
  });

  it('adopts probe-vhost objects that already hold the desired value (never a user vhost)', () => {
    const q = { durable: true, auto_delete: false, arguments: { 'x-message-ttl': 60000 } };
    const probe = (name: string, value: DesiredObject['value']): DesiredObject => ({
      ...d('queue', name, value, { owner: 'probe:shovel:abc' }),
      vhost: 'crossdock.probe',
    });
    const plan = diffStates(
      state(
        [probe('crossdock.probe.dq.x', q), probe('crossdock.probe.dq.y', q)],
        ['crossdock.probe'],
      ),
      observed([
        o('queue', 'crossdock.probe.dq.x', q, 'crossdock.probe'),
        o('queue', 'crossdock.probe.dq.y', { ...q, durable: false }, 'crossdock.probe'),
      ]),
      [],
    );
    expect(plan.ops).toEqual([]);
    expect(plan.adoptions).toEqual([
      {
        kind: 'queue',
        vhost: 'crossdock.probe',
        name: 'crossdock.probe.dq.x',
        owner: 'probe:shovel:abc',
      },
    ]);
    // A differing value is still only reported: adoption needs an exact match.
    expect(plan.findings).toEqual([
      expect.objectContaining({
        kind: 'unmanaged-conflict',
        key: expect.objectContaining({ name: 'crossdock.probe.dq.y' }),
      }),
    ]);
    const user = diffStates(
      state([d('queue', 'crossdock.q', q)]),
      observed([o('queue', 'crossdock.q', q)]),
      [],
    );
    expect(user.adoptions).toBeUndefined();
  });

  it('never updates or deletes ensure-only objects; reports mismatches', () => {
    const plan = diffStates(
      state([
        d('exchange', 'orders', { type: 'topic' }, { ensureOnly: true }),
        d('queue', 'backup', { arguments: { 'x-queue-type': 'quorum' } }, { ensureOnly: true }),
      ]),
      observed([
        o('exchange', 'orders', {
          type: 'direct',
          durable: true,
          auto_delete: false,
          internal: false,
          arguments: {},
        }),
        o('queue', 'backup', { durable: true, auto_delete: false, arguments: {} }),
      ]),
      [own('exchange', 'orders'), own('queue', 'backup')],
    );
    expect(plan.ops).toEqual([]);
    expect(plan.findings.map((f) => [f.kind, f.key.name])).toEqual([
      ['ensure-mismatch', 'orders'],
      ['ensure-mismatch', 'backup'],
    ]);
    expect(plan.findings[0].detail).toContain('type');
    expect(plan.findings[1].detail).toContain('arguments.x-queue-type');
  });

  it('does not delete owned exchanges/queues unless the ledger says they were not ensure-only', () => {
    const ex = o('exchange', 'orders', {
      type: 'topic',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: {},
    });
    const q = o('queue', 'work', { durable: true, auto_delete: false, arguments: {} });
    const kept = diffStates(state([]), observed([ex, q]), [
      own('exchange', 'orders'),
      own('queue', 'work', { ensureOnly: true }),
    ]);
    expect(kept.ops).toEqual([]);
    expect(kept.findings.map((f) => f.kind)).toEqual(['drift', 'drift']);
    const gone = diffStates(state([]), observed([ex, q]), [
      own('exchange', 'orders', { ensureOnly: false }),
      own('queue', 'work', { ensureOnly: false }),
    ]);
    // Deletes run in reverse dependency order: queues before exchanges.
    expect(gone.ops.map((x) => [x.op, x.key.kind])).toEqual([
      ['delete', 'queue'],
      ['delete', 'exchange'],
    ]);
  });

  it('reports an owned exchange whose properties changed instead of updating it', () => {
    const plan = diffStates(
      state([d('exchange', 'orders', { type: 'topic' })]),
      observed([
        o('exchange', 'orders', {
          type: 'topic',
          durable: false,
          auto_delete: false,
          internal: false,
          arguments: {},
        }),
      ]),
      [own('exchange', 'orders', { ensureOnly: false })],
    );
    expect(plan.ops).toEqual([]);
    expect(plan.findings).toEqual([expect.objectContaining({ kind: 'drift' })]);
    expect(plan.findings[0].detail).toMatch(/durable/);
  });

  it('leaves built-in exchanges alone', () => {
    const plan = diffStates(
      state([
        d('exchange', 'amq.topic', { type: 'topic' }, { ensureOnly: true }),
        d('exchange', 'amq.direct', { type: 'direct' }),
      ]),
      observed([]),
      [],
    );
    expect(plan.ops).toEqual([]);
    expect(plan.findings.map((f) => [f.kind, f.key.name])).toEqual([
      ['unmanaged-conflict', 'amq.direct'],
    ]);
  });

  it('ignores objects and ledger rows outside the managed vhosts; refuses desired ones', () => {
    const plan = diffStates(state([]), observed([o('policy', 'crossdock.p', policy, 'other')]), [
      { ...own('policy', 'crossdock.p'), vhost: 'other' },
    ]);
    expect(plan).toEqual({ ops: [], findings: [] });
    expect(() =>
      diffStates(state([{ ...d('policy', 'p', policy), vhost: 'other' }]), observed([]), []),
    ).toThrow(RangeError);
    expect(() =>
      diffStates(state([d('policy', 'p', policy), d('policy', 'p', policy)]), observed([]), []),
    ).toThrow(/twice/);
    expect(() =>
      diffStates(state([d('binding', bname('', 'q', 'q', 'q'), {})]), observed([]), []),
    ).toThrow(/default exchange/);
  });
});

describe('diffStates: held-back owners', () => {
  it('leaves what a held-back link already has on the broker, and reports it', () => {
    const plan = diffStates(
      state([]),
      observed([o('federation-upstream', 'crossdock.up.a', upstream)]),
      [own('federation-upstream', 'crossdock.up.a', { owner: 'link:held' })],
      { heldBackOwners: new Set(['link:held']) },
    );
    expect(plan.ops).toEqual([]);
    expect(plan.findings).toEqual([
      expect.objectContaining({
        kind: 'held-back',
        key: expect.objectContaining({ name: 'crossdock.up.a' }),
      }),
    ]);
    const without = diffStates(
      state([]),
      observed([o('federation-upstream', 'crossdock.up.a', upstream)]),
      [own('federation-upstream', 'crossdock.up.a', { owner: 'link:held' })],
    );
    expect(without.ops.map((x) => x.op)).toEqual(['delete']);
  });
});

describe('diffStates: bindings', () => {
  const name = bname('orders', 'q', 'orders.local', '#');
  it('matches any instance with equal arguments (arguments are part of a binding identity)', () => {
    const plan = diffStates(
      state([d('binding', name, {}, { ensureOnly: true })]),
      observed([
        o('binding', name, { arguments: { 'x-a': 1 } }),
        o('binding', name, { arguments: {} }),
      ]),
      [],
    );
    expect(plan).toEqual({ ops: [], findings: [] });
  });

  it('updates an owned binding whose arguments differ; ensure-only ones are reported', () => {
    const obs = observed([o('binding', name, { arguments: { 'x-a': 1 } })]);
    const owned = diffStates(state([d('binding', name, { arguments: { 'x-a': 2 } })]), obs, [
      own('binding', name),
    ]);
    expect(owned.ops).toEqual([
      expect.objectContaining({
        op: 'update',
        before: { arguments: { 'x-a': 1 } },
        after: { arguments: { 'x-a': 2 } },
      }),
    ]);
    const ensured = diffStates(
      state([d('binding', name, { arguments: { 'x-a': 2 } }, { ensureOnly: true })]),
      obs,
      [own('binding', name)],
    );
    expect(ensured.ops).toEqual([]);
    expect(ensured.findings.map((f) => f.kind)).toEqual(['ensure-mismatch']);
  });

  it('deletes every instance of an owned binding key, unless recorded as ensure-only', () => {
    const obs = observed([
      o('binding', name, { arguments: { 'x-a': 1 } }),
      o('binding', name, { arguments: {} }),
    ]);
    const plan = diffStates(state([]), obs, [own('binding', name)]);
    expect(plan.ops.map((x) => [x.op, (x as { before: unknown }).before])).toEqual([
      ['delete', { arguments: { 'x-a': 1 } }],
      ['delete', { arguments: {} }],
    ]);
    expect(diffStates(state([]), obs, [own('binding', name, { ensureOnly: true })]).ops).toEqual(
      [],
    );
  });
});

describe('diffStates: op order', () => {
  it('creates/updates in dependency order, deletes in reverse', () => {
    const kinds: ObjectKind[] = [
      'shovel',
      'policy',
      'federation-upstream-set',
      'federation-upstream',
      'binding',
      'queue',
      'exchange',
    ];
    const desired = kinds.map((k) =>
      d(
        k,
        k === 'binding' ? bname('x', 'q', 'q', 'new') : `crossdock.${k}.new`,
        k === 'federation-upstream-set' ? [] : {},
      ),
    );
    const stale = kinds.map((k) =>
      o(
        k,
        k === 'binding' ? bname('x', 'q', 'q', 'old') : `crossdock.${k}.old`,
        k === 'federation-upstream-set' ? [] : {},
      ),
    );
    const ledger = stale.map((s) => ({ ...own(s.kind, s.name), ensureOnly: false }));
    const plan = diffStates(state(desired), observed(stale), ledger);
    expect(plan.ops.map((x) => `${x.op} ${x.key.kind}`)).toEqual([
      'create exchange',
      'create queue',
      'create binding',
      'create federation-upstream',
      'create federation-upstream-set',
      'create policy',
      'create shovel',
      'delete shovel',
      'delete policy',
      'delete federation-upstream-set',
      'delete federation-upstream',
      'delete binding',
      'delete queue',
      'delete exchange',
    ]);
    const stages = plan.ops.map(opStage);
    expect([...stages].sort((a, b) => a - b)).toEqual(stages);
  });
});

describe('diffStates: shadowed policies', () => {
  const queues = ['orders', 'orders.eu', 'billing'].map((n) =>
    o('queue', n, { durable: true, auto_delete: false, arguments: {} }),
  );
  const exchanges = [
    o('exchange', 'orders', {
      type: 'topic',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: {},
    }),
  ];
  const mine = {
    pattern: '^orders',
    definition: { 'max-length': 10 },
    priority: 5,
    'apply-to': 'queues',
  };
  const run = (rival: Record<string, unknown>, ledger: OwnershipEntry[] = []) =>
    diffStates(
      state([d('policy', 'crossdock.p', mine)]),
      observed([
        ...queues,
        ...exchanges,
        o('policy', 'crossdock.p', mine),
        o('policy', 'user.p', rival),
      ]),
      [own('policy', 'crossdock.p'), ...ledger],
    ).findings;

  it('names both policies and the objects when an unmanaged policy ties or outranks', () => {
    const findings = run({
      pattern: 'orders',
      definition: { 'max-length': 1 },
      priority: 7,
      'apply-to': 'all',
    });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      kind: 'shadowed',
      key: { kind: 'policy', vhost: 'v', name: 'crossdock.p' },
    });
    expect(findings[0].detail).toContain('"user.p"');
    expect(findings[0].detail).toContain('"crossdock.p"');
    expect(findings[0].detail).toContain('queue "orders"');
    expect(findings[0].detail).toContain('queue "orders.eu"');
    // apply-to queues on our side: the exchange "orders" is not ours to lose.
    expect(findings[0].detail).not.toContain('exchange "orders"');
    expect(findings[0].detail).not.toContain('billing');
    expect(run({ pattern: '^orders\\.eu$', definition: {}, priority: 5 })[0].detail).toMatch(
      /ties with/,
    );
  });

  it.each([
    ['a lower priority', { pattern: 'orders', definition: {}, priority: 4 }],
    ['no common object', { pattern: '^billing$', definition: {}, priority: 9 }],
    [
      'apply-to exchanges',
      { pattern: 'orders', definition: {}, priority: 9, 'apply-to': 'exchanges' },
    ],
    ['a pattern JS cannot read', { pattern: '(?<', definition: {}, priority: 9 }],
  ])('stays quiet for %s', (_name, rival) => {
    expect(run(rival)).toEqual([]);
  });

  it('does not count an owned policy that is about to be deleted', () => {
    expect(
      run({ pattern: 'orders', definition: {}, priority: 9 }, [own('policy', 'user.p')]),
    ).toEqual([]);
  });
});

describe('diffStates: orphan federation queues', () => {
  const fq = (name: string) =>
    o(
      'queue',
      name,
      { durable: true, auto_delete: false, arguments: { 'x-internal-purpose': 'federation' } },
      'up',
    );
  const queues = [
    fq('federation: orders -> dc2:down:orders'),
    fq('federation: old -> dc2:down:old'),
    o('queue', 'plain', {}, 'up'),
  ];
  const desiredUp = state([], ['up']);

  it('reports upstream queues no expected link explains', () => {
    const plan = diffStates(desiredUp, observed(queues), [], {
      expectedFederationQueues: [
        {
          vhost: 'up',
          exchange: 'orders',
          downstreamCluster: 'dc2',
          downstreamVhost: 'down',
          downstreamExchange: 'orders',
        },
      ],
    });
    expect(plan.ops).toEqual([]);
    expect(plan.findings).toEqual([
      {
        kind: 'orphan-federation-queue',
        key: { kind: 'queue', vhost: 'up', name: 'federation: old -> dc2:down:old' },
        detail: expect.stringContaining('exchange "old" for downstream "dc2:down:old"'),
      },
    ]);
  });

  it('skips the check when the caller does not say which links point here', () => {
    expect(diffStates(desiredUp, observed(queues), []).findings).toEqual([]);
  });
});

describe('diffStates: backlog of deleted links', () => {
  const fq = (name: string) =>
    o('queue', name, { durable: true, auto_delete: false, arguments: {} }, 'up');
  const fx = (name: string) =>
    o('exchange', name, { type: 'x-federation-upstream', internal: true }, 'up');
  const queue = 'federation: old -> dc2:down:old';
  const objects = [fq(queue), fx(`${queue} B`), fq('federation: stray -> dc9'), fq('plain')];
  const deleted = (ready: boolean) => [
    {
      key: { kind: 'queue' as const, vhost: 'up', name: queue },
      owner: 'link:L1',
      queue,
      ready,
      linkName: 'old-link',
    },
    {
      key: { kind: 'exchange' as const, vhost: 'up', name: `${queue} B` },
      owner: 'link:L1',
      queue,
      ready,
      linkName: 'old-link',
    },
  ];
  const desiredUp = state([], ['up']);

  it('deletes the queue, then its exchange, once the downstream no longer runs the link', () => {
    const plan = diffStates(desiredUp, observed(objects), [], {
      expectedFederationQueues: [],
      deletedLinkObjects: deleted(true),
    });
    expect(plan.ops).toEqual([
      {
        op: 'delete',
        key: { kind: 'queue', vhost: 'up', name: queue },
        before: objects[0].value,
        owner: 'link:L1',
      },
      {
        op: 'delete',
        key: { kind: 'exchange', vhost: 'up', name: `${queue} B` },
        before: objects[1].value,
        owner: 'link:L1',
      },
    ]);
    // What crossdock cannot attribute is still reported.
    expect(plan.findings.map((f) => [f.kind, f.key.name])).toEqual([
      ['orphan-federation-queue', 'federation: stray -> dc9'],
    ]);
  });

  it('waits (reported, not deleted, not an orphan) while the downstream may still run the link', () => {
    const plan = diffStates(desiredUp, observed(objects), [], {
      expectedFederationQueues: [],
      deletedLinkObjects: deleted(false),
    });
    expect(plan.ops).toEqual([]);
    expect(plan.findings.map((f) => [f.kind, f.key.kind, f.key.name])).toEqual([
      ['orphan-federation-queue', 'queue', 'federation: stray -> dc9'],
      ['pending-cleanup', 'exchange', `${queue} B`],
      ['pending-cleanup', 'queue', queue],
    ]);
    expect(plan.findings[2].detail).toContain('deleted link old-link');
  });

  it('leaves a queue another link still uses (the name carries no upstream name)', () => {
    const plan = diffStates(desiredUp, observed(objects), [], {
      expectedFederationQueues: [
        {
          vhost: 'up',
          exchange: 'old',
          downstreamCluster: 'dc2',
          downstreamVhost: 'down',
          downstreamExchange: 'old',
        },
      ],
      deletedLinkObjects: deleted(true),
    });
    expect(plan.ops).toEqual([]);
  });

  it('does nothing for objects already gone', () => {
    const plan = diffStates(desiredUp, observed([fq('plain')]), [], {
      deletedLinkObjects: deleted(true),
    });
    expect(plan).toEqual({ ops: [], findings: [] });
  });
});

describe('diffStates: properties', () => {
  const vhost = fc.constantFrom('/', 'v', 'a/b');
  const uriArb = fc.constantFrom('h1', 'h2', 'h3').map((h) => uri(h));
  const desiredArb: fc.Arbitrary<DesiredObject[]> = fc.uniqueArray(
    fc.oneof(
      fc.record({
        kind: fc.constant<ObjectKind>('federation-upstream'),
        vhost,
        name: fc.constantFrom('crossdock.up.a', 'crossdock.up.b'),
        value: fc.record({
          uri: fc.oneof(uriArb, fc.array(uriArb, { minLength: 1, maxLength: 3 })),
          'max-hops': fc.nat(3),
        }),
        owner: fc.constant('link:1'),
      }),
      fc.record({
        kind: fc.constant<ObjectKind>('policy'),
        vhost,
        name: fc.constantFrom('crossdock.p1', 'crossdock.p2'),
        value: fc.record(
          {
            pattern: fc.constantFrom('^a', 'b$'),
            definition: fc.record({ 'max-length': fc.nat(9) }),
            priority: fc.nat(3),
            'apply-to': fc.constantFrom('queues', 'exchanges'),
          },
          { requiredKeys: ['pattern', 'definition'] },
        ),
        owner: fc.constant('policy:1'),
      }),
      fc.record({
        kind: fc.constant<ObjectKind>('queue'),
        vhost,
        name: fc.constantFrom('q1', 'q2'),
        value: fc.record(
          { durable: fc.boolean(), arguments: fc.record({ 'x-max-length': fc.nat(9) }) },
          { requiredKeys: [] },
        ),
        owner: fc.constant('link:2'),
        ensureOnly: fc.boolean(),
      }),
    ),
    { selector: (x) => objectId(x), maxLength: 8 },
  ) as fc.Arbitrary<DesiredObject[]>;
  const vhosts = ['/', 'v', 'a/b'];

  /** What the broker would echo after a PUT of the op's value (JSON round trip). */
  const echo = (x: DesiredObject): ObservedObject => ({
    kind: x.kind,
    vhost: x.vhost,
    name: x.name,
    value: JSON.parse(JSON.stringify(writeValue(x.kind, x.value))) as ObservedObject['value'],
  });

  it('the diff of identical states is empty', () => {
    fc.assert(
      fc.property(desiredArb, (objects) => {
        const ledger = objects.filter((x) => !x.ensureOnly).map((x) => ({ ...x }));
        const plan = diffStates(state(objects, vhosts), observed(objects.map(echo)), ledger);
        expect(plan).toEqual({ ops: [], findings: [] });
      }),
    );
  });

  it('updates and deletes only ledger objects; creates only missing ones', () => {
    const observedArb = desiredArb.map((xs) =>
      xs.map((x): ObservedObject => ({
        kind: x.kind,
        vhost: x.vhost,
        name: x.name,
        value: x.value,
      })),
    );
    const ledgerArb = desiredArb.map((xs) =>
      xs.map((x) => ({ kind: x.kind, vhost: x.vhost, name: x.name, owner: x.owner })),
    );
    fc.assert(
      fc.property(desiredArb, observedArb, ledgerArb, (want, have, ledger) => {
        const plan = diffStates(state(want, vhosts), observed(have), ledger);
        const owned = new Set(ledger.map(objectId));
        const present = new Set(have.map(objectId));
        for (const op of plan.ops) {
          if (op.op === 'create') expect(present.has(objectId(op.key))).toBe(false);
          else expect(owned.has(objectId(op.key))).toBe(true);
        }
        // Ops apply in stage order.
        const stages = plan.ops.map(opStage);
        expect([...stages].sort((a, b) => a - b)).toEqual(stages);
      }),
    );
  });
});

describe('diffStates: objects the broker removes by design', () => {
  const oneShot = { 'src-queue': 'q', 'src-delete-after': 50, 'dest-queue': 'd' };
  const shovel = (value: Record<string, unknown>) =>
    d('shovel', 'crossdock.sh.s', value, { owner: 'shovel:s' });

  it('a confirmed one-shot shovel that is gone is completed: no create, no drift', () => {
    const plan = diffStates(state([shovel(oneShot)]), observed([]), [
      own('shovel', 'crossdock.sh.s', { owner: 'shovel:s', confirmed: true }),
    ]);
    expect(plan.ops).toEqual([]);
    expect(plan.completions).toEqual([
      {
        key: { kind: 'shovel', vhost: 'v', name: 'crossdock.sh.s' },
        owner: 'shovel:s',
        reason: expect.stringContaining('src-delete-after 50'),
      },
    ]);
    expect(plan.findings.map((f) => f.kind)).toEqual(['self-deleted']);
  });

  it('queue-length counts as one-shot too; a ledger row without the flag is confirmed', () => {
    const plan = diffStates(
      state([shovel({ ...oneShot, 'src-delete-after': 'queue-length' })]),
      observed([]),
      [own('shovel', 'crossdock.sh.s', { owner: 'shovel:s' })],
    );
    expect(plan.ops).toEqual([]);
    expect(plan.completions?.[0].reason).toMatch(/queue-length/);
  });

  it('a one-shot shovel the broker never accepted is created again (an earlier write failed)', () => {
    const plan = diffStates(state([shovel(oneShot)]), observed([]), [
      own('shovel', 'crossdock.sh.s', { owner: 'shovel:s', confirmed: false }),
    ]);
    expect(plan.ops.map((op) => op.op)).toEqual(['create']);
    expect(plan.completions).toBeUndefined();
    expect(plan.findings.map((f) => f.kind)).toEqual(['drift']);
  });

  it('a first run (not owned yet) is created; a continuous shovel that is gone is drift', () => {
    expect(diffStates(state([shovel(oneShot)]), observed([]), []).ops).toHaveLength(1);
    const plan = diffStates(
      state([shovel({ ...oneShot, 'src-delete-after': 'never' })]),
      observed([]),
      [own('shovel', 'crossdock.sh.s', { owner: 'shovel:s' })],
    );
    expect(plan.ops.map((op) => op.op)).toEqual(['create']);
    expect(plan.findings.map((f) => f.kind)).toEqual(['drift']);
  });

  it('a one-shot shovel still running is left alone', () => {
    const plan = diffStates(
      state([shovel(oneShot)]),
      observed([o('shovel', 'crossdock.sh.s', oneShot)]),
      [own('shovel', 'crossdock.sh.s', { owner: 'shovel:s' })],
    );
    expect(plan.ops).toEqual([]);
    expect(plan.completions).toBeUndefined();
  });

  it('an auto-delete queue that went away is re-created while wanted, reported as by design', () => {
    const plan = diffStates(
      state([d('queue', 'tmp', { durable: false, auto_delete: true, arguments: {} })]),
      observed([]),
      [own('queue', 'tmp')],
    );
    expect(plan.ops.map((op) => op.op)).toEqual(['create']);
    expect(plan.findings.map((f) => f.kind)).toEqual(['self-deleted']);
    expect(plan.completions).toBeUndefined();
  });
});
