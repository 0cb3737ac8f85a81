import fc from 'fast-check';
import { canonicalJson } from '../audit/canonical-json';
import {
  BrokerNotFoundError,
  BrokerRejectedError,
  BrokerServerError,
  BrokerTimeoutError,
  BrokerUnreachableError,
} from '../broker/management.errors';
import type { HttpMethod, ManagementResponse } from '../broker/management.types';
import { applyPlan, type ApplyHooks, type OpOutcome } from './apply';
import type { DesiredObject, DesiredState, ObjectKind, Plan, PlanOp } from './broker-state';
import {
  bindingName,
  objectId,
  parseBindingName,
  type BrokerClient,
} from '../broker-topology/broker-paths';
import { diffStates, type CreateOp, type OwnershipEntry } from './diff';
import { observeBrokerState } from './observe';

type Row = Record<string, unknown>;
interface BindingRow {
  vhost: string;
  source: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: Row;
  properties_key: string;
}
interface Fault {
  match: (method: HttpMethod, path: string) => boolean;
  error: (method: HttpMethod, path: string) => Error;
  times: number;
}

const node = 'rabbit@fake-1';
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * An in-memory management API that stores and echoes values the way 3.10.8 does (measured on the
 * local sites): parameters as PUT (a uri string stays a string), policies with priority 0 and
 * apply-to all filled in, exchanges/queues with the API's own defaults (durable FALSE when
 * omitted) and refusing an inequivalent redeclare, bindings identified by their arguments too and
 * deleted through an opaque properties_key.
 */
class FakeBroker implements BrokerClient {
  readonly params = new Map<string, unknown>();
  readonly policies = new Map<string, Row>();
  readonly exchanges = new Map<string, Row>();
  readonly queues = new Map<string, Row>();
  bindings: BindingRow[] = [];
  readonly writes: { method: HttpMethod; path: string; seq: number; done?: number }[] = [];
  readonly faults: Fault[] = [];
  requests = 0;
  inFlight = 0;
  maxInFlight = 0;
  delayMs = 0;
  #seq = 0;
  readonly #vhosts = new Set<string>();

  constructor(vhosts: string[]) {
    for (const v of vhosts) {
      this.#vhosts.add(v);
      for (const [name, type] of [
        ['', 'direct'],
        ['amq.direct', 'direct'],
        ['amq.topic', 'topic'],
      ]) {
        this.exchanges.set(`${v}\u0000${name}`, {
          type,
          durable: true,
          auto_delete: false,
          internal: false,
          arguments: {},
        });
      }
    }
  }

  fail(match: Fault['match'], error: Fault['error'], times = 1): void {
    this.faults.push({ match, error, times });
  }

  async send<T = unknown>(
    method: HttpMethod,
    path: string,
    body?: unknown,
  ): Promise<ManagementResponse<T>> {
    this.requests++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const write: FakeBroker['writes'][number] | undefined =
      method === 'GET' ? undefined : { method, path, seq: this.#seq++ };
    if (write) this.writes.push(write);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      const fault = this.faults.find((f) => f.times > 0 && f.match(method, path));
      if (fault) {
        fault.times--;
        throw fault.error(method, path);
      }
      const result = this.handle(method, path, body);
      return { method, path, status: 200, body: result as T, node, latencyMs: 0, attempts: [] };
    } finally {
      this.inFlight--;
      if (write) write.done = this.#seq++;
    }
  }

  private handle(method: HttpMethod, path: string, body: unknown): unknown {
    const seg = path
      .replace(/^\/api\//, '')
      .split('/')
      .map(decodeURIComponent);
    const notFound = () => new BrokerNotFoundError(method, path, node, []);
    const reject = (reason: string) => new BrokerRejectedError(method, path, node, 400, reason, []);
    const needVhost = (v: string) => {
      if (!this.#vhosts.has(v)) throw notFound();
    };
    const b = (body ?? {}) as Row;
    const [top, ...rest] = seg;
    if (top === 'parameters') {
      const [component, vhost, name] = rest;
      if (vhost === undefined) {
        return [...this.params].flatMap(([k, value]) => {
          const [c, v, n] = k.split('\u0000');
          return c === component ? [{ value: clone(value), vhost: v, component: c, name: n }] : [];
        });
      }
      needVhost(vhost);
      const k = `${component}\u0000${vhost}\u0000${name}`;
      if (method === 'PUT') {
        if (b.value === undefined) throw reject('not_json');
        this.params.set(k, clone(b.value));
      } else if (method === 'DELETE') {
        if (!this.params.delete(k)) throw notFound();
      }
      return undefined;
    }
    if (top === 'policies') {
      const [vhost, name] = rest;
      if (vhost === undefined) {
        return [...this.policies].map(([k, p]) => {
          const [v, n] = k.split('\u0000');
          return { vhost: v, name: n, ...clone(p) };
        });
      }
      needVhost(vhost);
      const k = `${vhost}\u0000${name}`;
      if (method === 'PUT') {
        if (typeof b.pattern !== 'string' || typeof b.definition !== 'object')
          throw reject('bad policy');
        if (b.priority !== undefined && typeof b.priority !== 'number') {
          throw reject('priority should be a number');
        }
        this.policies.set(k, {
          pattern: b.pattern,
          'apply-to': b['apply-to'] ?? 'all',
          definition: clone(b.definition),
          priority: b.priority ?? 0,
        });
      } else if (method === 'DELETE') {
        if (!this.policies.delete(k)) throw notFound();
      }
      return undefined;
    }
    if (top === 'exchanges' || top === 'queues') {
      const store = top === 'exchanges' ? this.exchanges : this.queues;
      const [vhost, name] = rest;
      if (vhost === undefined) {
        return [...store].map(([k, x]) => {
          const [v, n] = k.split('\u0000');
          return { vhost: v, name: n, ...clone(x) };
        });
      }
      needVhost(vhost);
      const k = `${vhost}\u0000${name}`;
      if (method === 'PUT') {
        const declared: Row = {
          ...(top === 'exchanges' ? { type: b.type, internal: b.internal ?? false } : {}),
          durable: b.durable ?? false,
          auto_delete: b.auto_delete ?? false,
          arguments: clone(b.arguments ?? {}),
        };
        const existing = store.get(k);
        if (existing && canonicalJson(existing) !== canonicalJson(declared)) {
          throw reject(`inequivalent arg for ${top} '${name}'`);
        }
        if (!existing && top === 'queues') {
          this.bindings.push(this.row(vhost, '', name, 'queue', name, {}));
        }
        store.set(k, declared);
      } else if (method === 'DELETE') {
        if (!store.delete(k)) throw notFound();
        const type = top === 'queues' ? 'queue' : 'exchange';
        this.bindings = this.bindings.filter(
          (r) =>
            r.vhost !== vhost ||
            ((r.destination !== name || r.destination_type !== type) &&
              (type !== 'exchange' || r.source !== name)),
        );
      }
      return undefined;
    }
    if (top === 'bindings') {
      const [vhost, e, source, t, destination, props] = rest;
      if (vhost === undefined) return clone(this.bindings);
      if (e !== 'e' || (t !== 'q' && t !== 'e')) throw notFound();
      const type = t === 'q' ? 'queue' : 'exchange';
      const between = (r: BindingRow) =>
        r.vhost === vhost &&
        r.source === source &&
        r.destination === destination &&
        r.destination_type === type;
      if (method === 'GET') return clone(this.bindings.filter(between));
      if (method === 'POST') {
        needVhost(vhost);
        const dest = (type === 'queue' ? this.queues : this.exchanges).get(
          `${vhost}\u0000${destination}`,
        );
        if (!this.exchanges.has(`${vhost}\u0000${source}`) || !dest) throw notFound();
        const row = this.row(
          vhost,
          source,
          destination,
          type,
          String(b.routing_key ?? ''),
          (b.arguments ?? {}) as Row,
        );
        if (!this.bindings.some((r) => between(r) && r.properties_key === row.properties_key)) {
          this.bindings.push(row);
        }
        return undefined;
      }
      if (method === 'DELETE') {
        const i = this.bindings.findIndex((r) => between(r) && r.properties_key === props);
        if (i < 0) throw notFound();
        this.bindings.splice(i, 1);
        return undefined;
      }
    }
    throw notFound();
  }

  private row(
    vhost: string,
    source: string,
    destination: string,
    type: 'queue' | 'exchange',
    rk: string,
    args: Row,
  ): BindingRow {
    const noArgs = Object.keys(args).length === 0;
    const quoted = encodeURIComponent(rk).replace(/%20/g, '+');
    const hash = [...canonicalJson(args)]
      .reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7)
      .toString(36);
    return {
      vhost,
      source,
      destination,
      destination_type: type,
      routing_key: rk,
      arguments: clone(args),
      properties_key: rk === '' && noArgs ? '~' : `${quoted}${noArgs ? '' : `~${hash}`}`,
    };
  }

  /** Everything stored, for before/after comparisons. */
  snapshot(): string {
    return canonicalJson({
      params: [...this.params],
      policies: [...this.policies],
      exchanges: [...this.exchanges],
      queues: [...this.queues],
      bindings: this.bindings,
    });
  }
}

/** Hooks that keep an ownership ledger the way the caller does. */
function ledgerHooks(ledger: OwnershipEntry[], log: string[] = []): ApplyHooks {
  return {
    beforeWrite: (op) => {
      log.push(`before ${op.op} ${op.key.name}`);
      if (op.op === 'delete' || ledger.some((e) => objectId(e) === objectId(op.key))) return;
      ledger.push({ ...op.key, owner: op.owner, ensureOnly: (op as CreateOp).ensureOnly === true });
    },
    afterWrite: (op, outcome) => {
      log.push(`after ${op.op} ${op.key.name} ${outcome.ok}`);
      if (op.op !== 'delete' || !outcome.ok) return;
      const i = ledger.findIndex((e) => objectId(e) === objectId(op.key));
      if (i >= 0) ledger.splice(i, 1);
    },
  };
}

const vhosts = ['/', 'v1', 'a/b'];
const noSleep = () => Promise.resolve();
const desiredState = (objects: DesiredObject[]): DesiredState => ({
  clusterId: 'c',
  vhosts,
  objects,
  warnings: [],
});

async function reconcile(broker: FakeBroker, desired: DesiredState, ledger: OwnershipEntry[]) {
  const plan = diffStates(desired, await observeBrokerState(broker, desired.vhosts), ledger);
  const result = await applyPlan(broker, plan, ledgerHooks(ledger), { sleep: noSleep });
  return { plan, result };
}

// ---- generators ---------------------------------------------------------------------------

const vhostArb = fc.constantFrom(...vhosts);
const hostArb = fc.constantFrom('h1', 'h2', 'h3');
const uriArb = fc
  .tuple(hostArb, fc.constantFrom('pw1', 'p@ss/2'))
  .map(
    ([h, p]) =>
      `amqp://link:${encodeURIComponent(p)}@${h}:5672/v?heartbeat=10&connection_timeout=5000`,
  );
const uriField = fc.oneof(uriArb, fc.array(uriArb, { minLength: 1, maxLength: 3 }));
const suffix = fc.constantFrom('a', 'b', 'c d', 'é/x');
const exchangeNames = ['ex-a', 'ex-b', 'ex c'];
const queueNames = ['q-a', 'q-b', 'q/c'];

const objectArb: fc.Arbitrary<DesiredObject> = fc.oneof(
  fc.record({
    kind: fc.constant<ObjectKind>('federation-upstream'),
    vhost: vhostArb,
    name: suffix.map((s) => `crossdock.up.${s}`),
    value: fc.record(
      {
        uri: uriField,
        'prefetch-count': fc.integer({ min: 1, max: 5000 }),
        'max-hops': fc.integer({ min: 1, max: 3 }),
        'resource-cleanup-mode': fc.constant('never'),
        'trust-user-id': fc.boolean(),
      },
      { requiredKeys: ['uri'] },
    ),
    owner: fc.constant('link:1'),
  }),
  fc.record({
    kind: fc.constant<ObjectKind>('federation-upstream-set'),
    vhost: vhostArb,
    name: suffix.map((s) => `crossdock.set.${s}`),
    value: fc.uniqueArray(
      suffix.map((s) => ({ upstream: `crossdock.up.${s}` })),
      {
        selector: (m) => m.upstream,
        minLength: 1,
      },
    ),
    owner: fc.constant('link:2'),
  }),
  fc.record({
    kind: fc.constant<ObjectKind>('policy'),
    vhost: vhostArb,
    name: suffix.map((s) => `crossdock.pol.${s}`),
    value: fc.record(
      {
        pattern: fc.constantFrom('^ex-a$', '^q-', 'b$'),
        definition: fc.record(
          {
            'federation-upstream': suffix.map((s) => `crossdock.up.${s}`),
            'max-length': fc.nat(100),
          },
          { requiredKeys: [] },
        ),
        priority: fc.integer({ min: 0, max: 20 }),
        'apply-to': fc.constantFrom('queues', 'exchanges', 'all'),
      },
      { requiredKeys: ['pattern', 'definition'] },
    ),
    owner: fc.constant('policy:1'),
  }),
  fc.record({
    kind: fc.constant<ObjectKind>('shovel'),
    vhost: vhostArb,
    name: suffix.map((s) => `crossdock.sh.${s}`),
    value: fc.record(
      {
        'src-uri': fc.oneof(fc.constant('amqp://'), fc.constant(['amqp:///v1'])),
        'src-queue': fc.constantFrom(...queueNames),
        'dest-uri': uriField,
        'dest-queue': fc.constantFrom('remote'),
        'src-prefetch-count': fc.integer({ min: 1, max: 2000 }),
        'reconnect-delay': fc.constantFrom(1, 5, 1.5),
      },
      { requiredKeys: ['src-uri', 'src-queue', 'dest-uri'] },
    ),
    owner: fc.constant('shovel:1'),
  }),
  fc.record({
    kind: fc.constant<ObjectKind>('exchange'),
    vhost: vhostArb,
    name: fc.constantFrom(...exchangeNames),
    value: fc.record(
      {
        type: fc.constantFrom('direct', 'topic', 'fanout'),
        durable: fc.boolean(),
        auto_delete: fc.boolean(),
        arguments: fc.constantFrom({}, { 'alternate-exchange': 'ex-b' }),
      },
      { requiredKeys: ['type'] },
    ),
    owner: fc.constant('link:3'),
    ensureOnly: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant<ObjectKind>('queue'),
    vhost: vhostArb,
    name: fc.constantFrom(...queueNames),
    value: fc.record(
      {
        durable: fc.boolean(),
        arguments: fc.constantFrom({}, { 'x-max-length': 10 }, { 'x-queue-type': 'classic' }),
      },
      { requiredKeys: [] },
    ),
    owner: fc.constant('link:4'),
    ensureOnly: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant<ObjectKind>('binding'),
    vhost: vhostArb,
    name: fc
      .record({
        source: fc.constantFrom(...exchangeNames, 'amq.topic'),
        destinationType: fc.constantFrom('q' as const, 'e' as const),
        destination: fc.constantFrom(...queueNames),
        routingKey: fc.constantFrom('', '#', 'a.b', 'a/b%c', 'sp ace'),
      })
      .map((p) => bindingName(p.destinationType === 'e' ? { ...p, destination: 'ex-b' } : p)),
    value: fc.record(
      { arguments: fc.constantFrom({}, { 'x-match': 'all' }) },
      { requiredKeys: [] },
    ),
    owner: fc.constant('link:5'),
    ensureOnly: fc.boolean(),
  }),
) as fc.Arbitrary<DesiredObject>;

/** Random desired objects plus the exchanges/queues their bindings need (as the compiler adds). */
const desiredArb = fc
  .uniqueArray(objectArb, { selector: objectId, maxLength: 14 })
  .map((objects) => {
    const all = new Map(objects.map((x) => [objectId(x), x]));
    for (const b of objects.filter((x) => x.kind === 'binding')) {
      const p = parseBindingName(b.name);
      const ends: [ObjectKind, string][] = [
        ['exchange', p.source],
        [p.destinationType === 'q' ? 'queue' : 'exchange', p.destination],
      ];
      for (const [kind, name] of ends) {
        if (kind === 'exchange' && name.startsWith('amq.')) continue;
        const key = { kind, vhost: b.vhost, name };
        if (!all.has(objectId(key))) {
          all.set(objectId(key), {
            ...key,
            value: kind === 'exchange' ? { type: 'topic' } : {},
            owner: b.owner,
            ensureOnly: true,
          });
        }
      }
    }
    return desiredState([...all.values()]);
  });

/** Unmanaged objects a user made by hand: never desired, never in the ledger. */
async function plantUnmanaged(broker: FakeBroker): Promise<void> {
  for (const vhost of vhosts) {
    const v = encodeURIComponent(vhost);
    await broker.send('PUT', `/api/parameters/federation-upstream/${v}/user.up`, {
      value: { uri: 'amqp://u:x@h' },
    });
    await broker.send('PUT', `/api/policies/${v}/user.pol`, {
      pattern: '^user\\.',
      definition: { 'max-length': 1 },
      priority: 100,
    });
    await broker.send('PUT', `/api/exchanges/${v}/user.x`, { type: 'fanout', durable: true });
    await broker.send('PUT', `/api/queues/${v}/user.q`, { durable: true });
    await broker.send('POST', `/api/bindings/${v}/e/user.x/q/user.q`, { routing_key: 'k' });
  }
  broker.writes.length = 0;
}

function unmanagedView(broker: FakeBroker): string {
  const snap = JSON.parse(broker.snapshot()) as Record<string, [string, unknown][] | BindingRow[]>;
  return canonicalJson({
    params: (snap.params as [string, unknown][]).filter(([k]) => k.includes('user.')),
    policies: (snap.policies as [string, unknown][]).filter(([k]) => k.includes('user.')),
    exchanges: (snap.exchanges as [string, unknown][]).filter(([k]) => k.includes('user.')),
    queues: (snap.queues as [string, unknown][]).filter(([k]) => k.includes('user.')),
    bindings: (snap.bindings as BindingRow[]).filter((r) => r.source.startsWith('user.')),
  });
}

// ---- properties ----------------------------------------------------------------------------

describe('reconcile round trip against an in-memory 3.10 broker (properties)', () => {
  it('diff(desired, observe(apply(plan))) is empty, and unmanaged objects are never touched', async () => {
    await fc.assert(
      fc.asyncProperty(desiredArb, async (desired) => {
        const broker = new FakeBroker(vhosts);
        await plantUnmanaged(broker);
        const untouched = unmanagedView(broker);
        const ledger: OwnershipEntry[] = [];

        const { plan, result } = await reconcile(broker, desired, ledger);
        expect(result.counts.failed).toBe(0);
        expect(result.stopped).toBeUndefined();
        expect(plan.ops.every((op) => op.op === 'create')).toBe(true);

        const again = diffStates(desired, await observeBrokerState(broker, vhosts), ledger);
        expect(again).toEqual({ ops: [], findings: [] });
        expect(unmanagedView(broker)).toBe(untouched);
        expect(broker.writes.some((w) => decodeURIComponent(w.path).includes('user.'))).toBe(false);

        // A second pass writes nothing at all.
        broker.writes.length = 0;
        const noop = await applyPlan(broker, again, ledgerHooks(ledger));
        expect(noop.requests).toBe(0);
        expect(broker.writes).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('converges from any earlier desired state, deleting only what it owned', async () => {
    await fc.assert(
      fc.asyncProperty(desiredArb, desiredArb, async (first, second) => {
        const broker = new FakeBroker(vhosts);
        await plantUnmanaged(broker);
        const untouched = unmanagedView(broker);
        const ledger: OwnershipEntry[] = [];
        await reconcile(broker, first, ledger);
        const ownedBefore = new Set(ledger.map(objectId));
        const ledgerBefore = ledger.map((e) => ({ ...e }));

        const { plan, result } = await reconcile(broker, second, ledger);
        expect(result.counts.failed).toBe(0);
        for (const op of plan.ops) {
          if (op.op !== 'create') expect(ownedBefore.has(objectId(op.key))).toBe(true);
        }
        const again = diffStates(second, await observeBrokerState(broker, vhosts), ledger);
        expect(again.ops).toEqual([]);
        // What remains to report: things that cannot change in place or that are not crossdock's to change.
        for (const f of again.findings) expect(['drift', 'ensure-mismatch']).toContain(f.kind);
        expect(unmanagedView(broker)).toBe(untouched);

        // Owned objects no longer desired are really gone (not merely reported as gone), except
        // exchanges/queues/bindings the ledger marks ensure-only.
        const observedIds = new Set(
          (await observeBrokerState(broker, vhosts)).objects.map(objectId),
        );
        const wanted = new Set(second.objects.map(objectId));
        for (const e of ledgerBefore) {
          if (wanted.has(objectId(e))) continue;
          const deletable =
            e.kind === 'exchange' || e.kind === 'queue'
              ? e.ensureOnly === false
              : e.kind === 'binding'
                ? e.ensureOnly !== true
                : true;
          // A deleted exchange or queue takes its bindings with it; anything else must be gone.
          if (deletable) expect(observedIds.has(objectId(e))).toBe(false);
        }
      }),
      { numRuns: 100 },
    );
  });
});

// ---- applyPlan behaviour -------------------------------------------------------------------

const policyKey = (name: string, vhost = 'v1') => ({ kind: 'policy' as const, vhost, name });
const createPolicy = (name: string): PlanOp => ({
  op: 'create',
  key: policyKey(name),
  after: {
    pattern: `^${name}$`,
    definition: { 'max-length': 1 },
    priority: 0,
    'apply-to': 'queues',
  },
  owner: 'policy:1',
});
const plan = (...ops: PlanOp[]): Plan => ({ ops, findings: [] });

describe('applyPlan', () => {
  it('bounds concurrency (default 8) and can be narrowed', async () => {
    const broker = new FakeBroker(vhosts);
    broker.delayMs = 5;
    const ops = Array.from({ length: 30 }, (_, i) => createPolicy(`crossdock.p${i}`));
    const result = await applyPlan(broker, plan(...ops));
    expect(result.counts.created).toBe(30);
    expect(broker.maxInFlight).toBe(8);
    const narrow = new FakeBroker(vhosts);
    narrow.delayMs = 5;
    await applyPlan(narrow, plan(...ops), {}, { concurrency: 3 });
    expect(narrow.maxInFlight).toBe(3);
  });

  it('gives writes their own per-node timeout and leaves reads on the client default', async () => {
    const broker = new FakeBroker(vhosts);
    const seen: [string, number | undefined][] = [];
    const spy: BrokerClient = {
      send: (method, path, body, opts) => {
        seen.push([method, opts?.timeoutMs]);
        return broker.send(method, path, body);
      },
    };
    const bind = bindingName({
      source: 'amq.topic',
      destinationType: 'q',
      destination: 'q1',
      routingKey: 'k',
    });
    await broker.send('PUT', '/api/queues/v1/q1', { durable: true });
    await broker.send('POST', '/api/bindings/v1/e/amq.topic/q/q1', { routing_key: 'k' });
    await applyPlan(
      spy,
      plan(createPolicy('crossdock.p1'), {
        op: 'delete',
        key: { kind: 'binding', vhost: 'v1', name: bind },
        before: { arguments: {} },
        owner: 'link:1',
      }),
      {},
      { writeTimeoutMs: 30000 },
    );
    expect(seen).toEqual([
      ['PUT', 30000],
      ['GET', undefined],
      ['DELETE', 30000],
    ]);
  });

  it('lets a later dependency stage start only after the earlier one finished', async () => {
    const broker = new FakeBroker(vhosts);
    broker.delayMs = 3;
    const ops: PlanOp[] = [
      ...Array.from({ length: 5 }, (_, i) => createPolicy(`crossdock.p${i}`)),
      ...Array.from({ length: 5 }, (_, i): PlanOp => ({
        op: 'create',
        key: { kind: 'federation-upstream', vhost: 'v1', name: `crossdock.up${i}` },
        after: { uri: 'amqp://h' },
        owner: 'link:1',
      })),
      ...Array.from({ length: 5 }, (_, i): PlanOp => ({
        op: 'create',
        key: { kind: 'exchange', vhost: 'v1', name: `x${i}` },
        after: { type: 'topic', durable: true },
        owner: 'link:1',
      })),
    ];
    await applyPlan(broker, plan(...ops));
    const stageOf = (path: string) =>
      path.includes('/exchanges/') ? 0 : path.includes('/parameters/') ? 1 : 2;
    for (const a of broker.writes) {
      for (const b of broker.writes) {
        if (stageOf(a.path) < stageOf(b.path)) expect(a.done).toBeLessThan(b.seq);
      }
    }
  });

  it('retries transient errors with exponential backoff, at most 3 tries', async () => {
    const broker = new FakeBroker(vhosts);
    const sleeps: number[] = [];
    const sleep = (ms: number) => {
      sleeps.push(ms);
      return Promise.resolve();
    };
    broker.fail(
      () => true,
      (m, p) => new BrokerServerError(m, p, node, 503, '', []),
      2,
    );
    const ok = await applyPlan(
      broker,
      plan(createPolicy('crossdock.a')),
      {},
      { sleep, backoffMs: 100 },
    );
    expect(ok.outcomes[0]).toMatchObject({ ok: true, attempts: 3, node });
    expect(sleeps).toEqual([100, 200]);

    for (const error of [
      (m: HttpMethod, p: string) =>
        new BrokerTimeoutError(m, p, [{ node: 'n2', ok: false, latencyMs: 1 }], 10),
      (m: HttpMethod, p: string) =>
        new BrokerUnreachableError(m, p, [{ node: 'n2', ok: false, latencyMs: 1 }]),
    ]) {
      const b = new FakeBroker(vhosts);
      b.fail(() => true, error, 3);
      const failed = await applyPlan(b, plan(createPolicy('crossdock.a')), {}, { sleep: noSleep });
      expect(failed.outcomes[0]).toMatchObject({ ok: false, attempts: 3, node: 'n2' });
      expect(failed.counts.failed).toBe(1);
      expect(b.policies.size).toBe(0);
    }
  });

  it('does not retry a 4xx and records the broker reason, redacted', async () => {
    const broker = new FakeBroker(vhosts);
    broker.fail(
      () => true,
      (m, p) => new BrokerRejectedError(m, p, node, 400, 'bad uri amqp://link:hunter22@h/v', []),
      5,
    );
    const result = await applyPlan(
      broker,
      plan(createPolicy('crossdock.a')),
      {},
      { sleep: noSleep },
    );
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 1,
      errorKind: 'rejected',
      status: 400,
      node,
    });
    expect(result.outcomes[0].error).toContain('bad uri amqp://link:(redacted)@h/v');
    expect(JSON.stringify(result)).not.toContain('hunter22');
  });

  it('awaits beforeWrite before each write; a refusal stops the run gracefully', async () => {
    const broker = new FakeBroker(vhosts);
    const seen: string[] = [];
    const after: [string, OpOutcome][] = [];
    const hooks: ApplyHooks = {
      beforeWrite: async (op) => {
        await new Promise((r) => setTimeout(r, 1));
        // The write must not have been sent yet.
        expect(broker.policies.has(`v1\u0000${op.key.name}`)).toBe(false);
        seen.push(op.key.name);
        if (op.key.name === 'crossdock.p2') throw new Error('lock lost: amqp://x:secretpw@h');
      },
      afterWrite: (op, outcome) => {
        after.push([op.key.name, outcome]);
      },
    };
    const ops = Array.from({ length: 6 }, (_, i) => createPolicy(`crossdock.p${i}`));
    const result = await applyPlan(broker, plan(...ops), hooks, { concurrency: 1 });
    expect(seen).toEqual(['crossdock.p0', 'crossdock.p1', 'crossdock.p2']);
    expect([...broker.policies.keys()]).toEqual(['v1\u0000crossdock.p0', 'v1\u0000crossdock.p1']);
    expect(after.map(([n]) => n)).toEqual(['crossdock.p0', 'crossdock.p1']);
    expect(after[0][1]).toMatchObject({ ok: true, attempts: 1, node });
    expect(result.stopped).toMatch(/lock lost/);
    expect(result.stopped).not.toContain('secretpw');
    expect(result.counts).toEqual({ created: 2, updated: 0, deleted: 0, failed: 0, skipped: 4 });
    expect(result.outcomes[2]).toMatchObject({
      ok: false,
      skipped: true,
      errorKind: 'hook',
      attempts: 0,
    });
    expect(result.outcomes[5]).toMatchObject({ ok: false, skipped: true, errorKind: 'skipped' });
  });

  it('lets in-flight ops finish when the run stops', async () => {
    const broker = new FakeBroker(vhosts);
    broker.delayMs = 10;
    const hooks: ApplyHooks = {
      beforeWrite: (op) => {
        if (op.key.name === 'crossdock.p3') throw new Error('stop');
      },
    };
    const ops = Array.from({ length: 12 }, (_, i) => createPolicy(`crossdock.p${i}`));
    const result = await applyPlan(broker, plan(...ops), hooks, { concurrency: 4 });
    // p0..p2 were in flight alongside p3's refusal and completed; nothing after p3 started.
    expect(result.counts.created).toBe(3);
    expect(broker.policies.size).toBe(3);
    expect(result.counts.skipped).toBe(9);
  });

  it('counts deletes of objects already gone as success', async () => {
    const broker = new FakeBroker(vhosts);
    const result = await applyPlan(
      broker,
      plan(
        {
          op: 'delete',
          key: { kind: 'shovel', vhost: 'v1', name: 'crossdock.sh' },
          before: {},
          owner: 's',
        },
        { op: 'delete', key: policyKey('crossdock.p'), before: {}, owner: 'p' },
        {
          op: 'delete',
          key: {
            kind: 'binding',
            vhost: 'v1',
            name: bindingName({
              source: 'x',
              destinationType: 'q',
              destination: 'q',
              routingKey: 'k',
            }),
          },
          before: { arguments: {} },
          owner: 'l',
        },
      ),
    );
    expect(result.outcomes.map((o) => [o.ok, o.alreadyGone])).toEqual([
      [true, true],
      [true, true],
      [true, true],
    ]);
    expect(result.counts.deleted).toBe(3);
  });

  it('deletes a binding through the properties_key of the matching listing entry', async () => {
    const broker = new FakeBroker(vhosts);
    await broker.send('PUT', '/api/exchanges/v1/x', { type: 'topic', durable: true });
    await broker.send('PUT', '/api/queues/v1/q', { durable: true });
    await broker.send('POST', '/api/bindings/v1/e/x/q/q', {
      routing_key: 'a/b%c #',
      arguments: { 'x-a': 1 },
    });
    await broker.send('POST', '/api/bindings/v1/e/x/q/q', {
      routing_key: 'a/b%c #',
      arguments: {},
    });
    const key = {
      kind: 'binding' as const,
      vhost: 'v1',
      name: bindingName({
        source: 'x',
        destinationType: 'q',
        destination: 'q',
        routingKey: 'a/b%c #',
      }),
    };
    const result = await applyPlan(
      broker,
      plan({ op: 'delete', key, before: { arguments: { 'x-a': 1 } }, owner: 'l' }),
    );
    expect(result.outcomes[0]).toMatchObject({ ok: true, attempts: 2 });
    expect(result.outcomes[0].alreadyGone).toBeUndefined();
    const left = broker.bindings.filter((b) => b.source === 'x');
    expect(left.map((b) => b.arguments)).toEqual([{}]);
  });

  it('updates a binding by adding the new one, then removing the old', async () => {
    const broker = new FakeBroker(vhosts);
    await broker.send('PUT', '/api/exchanges/v1/x', { type: 'headers', durable: true });
    await broker.send('PUT', '/api/queues/v1/q', { durable: true });
    await broker.send('POST', '/api/bindings/v1/e/x/q/q', {
      routing_key: '',
      arguments: { 'x-match': 'any' },
    });
    const key = {
      kind: 'binding' as const,
      vhost: 'v1',
      name: bindingName({ source: 'x', destinationType: 'q', destination: 'q', routingKey: '' }),
    };
    const result = await applyPlan(
      broker,
      plan({
        op: 'update',
        key,
        before: { arguments: { 'x-match': 'any' } },
        after: { arguments: { 'x-match': 'all' } },
        owner: 'l',
        changes: [],
      }),
    );
    expect(result.outcomes[0].ok).toBe(true);
    expect(broker.bindings.filter((b) => b.source === 'x').map((b) => b.arguments)).toEqual([
      { 'x-match': 'all' },
    ]);
  });

  it('refuses to update an exchange or queue in place', async () => {
    const broker = new FakeBroker(vhosts);
    const result = await applyPlan(
      broker,
      plan({
        op: 'update',
        key: { kind: 'queue', vhost: 'v1', name: 'q' },
        before: {},
        after: {},
        owner: 'l',
        changes: [],
      }),
    );
    expect(result.outcomes[0]).toMatchObject({ ok: false, errorKind: 'unsupported', attempts: 0 });
    expect(broker.writes).toEqual([]);
  });

  it('skips later stages after a failure, unless told to go on', async () => {
    const ops: PlanOp[] = [
      {
        op: 'create',
        key: { kind: 'exchange', vhost: 'v1', name: 'x' },
        after: { type: 'topic', durable: true },
        owner: 'l',
      },
      createPolicy('crossdock.p'),
    ];
    const broker = new FakeBroker(vhosts);
    await broker.send('PUT', '/api/exchanges/v1/x', { type: 'direct', durable: true });
    const result = await applyPlan(broker, plan(...ops));
    expect(result.outcomes.map((o) => [o.ok, o.skipped ?? false])).toEqual([
      [false, false],
      [false, true],
    ]);
    expect(result.outcomes[0].error).toMatch(/inequivalent/);
    expect(result.stopped).toMatch(/later dependency stages/);
    const goOn = await applyPlan(broker, plan(...ops), {}, { stopOnStageFailure: false });
    expect(goOn.outcomes.map((o) => o.ok)).toEqual([false, true]);
  });

  it('returns outcomes in plan order, with timings, for an empty plan nothing', async () => {
    const broker = new FakeBroker(vhosts);
    const empty = await applyPlan(broker, plan());
    expect(empty).toMatchObject({
      outcomes: [],
      requests: 0,
      counts: { created: 0, failed: 0, skipped: 0 },
    });
    const ops: PlanOp[] = [
      { op: 'delete', key: policyKey('crossdock.old'), before: {}, owner: 'p' },
      createPolicy('crossdock.new'),
    ];
    const result = await applyPlan(broker, plan(...ops));
    expect(result.outcomes.map((o) => `${o.op} ${o.key.name}`)).toEqual([
      'delete crossdock.old',
      'create crossdock.new',
    ]);
    // The create ran first (creates before deletes), the outcome order still follows the plan.
    expect(broker.writes.map((w) => w.method)).toEqual(['PUT', 'DELETE']);
    for (const o of result.outcomes) expect(o.ms).toBeGreaterThanOrEqual(0);
  });
});
