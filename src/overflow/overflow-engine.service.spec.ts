import { ConsoleLogger, Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import { managementPaths } from '../broker-topology/broker-paths';
import { BrokerNotFoundError } from '../broker/management.errors';
import { FakeClock } from '../common/clock/fake-clock';
import { FakeDataSource } from '../database/testing/fake-data-source';
import { PathLocks } from '../probes/path-locks';
import { ClusterLock } from '../reconciliation/cluster-lock';
import { OverflowEngineService } from './overflow-engine.service';
import type { OverflowBatch, OverflowRuleEntity } from './overflow-rule.entity';
import { overflowOwner, spillShovelName } from './spill-shovel';

jest.mock('../probes/path-locks', () => ({ PathLocks: jest.fn() }));
jest.mock('../database/lock-session', () => ({
  ...jest.requireActual<object>('../database/lock-session'),
  lockSessionOptions: () => ({}),
}));
jest.mock('../reconciliation/cluster-lock', () => ({ ClusterLock: { tryAcquire: jest.fn() } }));
jest.mock('../clusters/link-user-credentials', () => ({
  activeLinkCredential: jest.fn(async () => ({
    username: 'crossdock-link-a',
    password: 'link-secret',
    slot: 'a',
    salt: 's',
  })),
}));

const notFound = (path: string) => new BrokerNotFoundError('GET', path, 'n1', []);

/** A stand-in for one cluster's management API: objects by path, errors by path. */
class FakeBroker {
  readonly objects = new Map<string, unknown>();
  readonly errors = new Map<string, Error>();
  readonly writes: { method: 'PUT' | 'DELETE'; path: string; body?: unknown }[] = [];
  deleteError?: Error;
  get = jest.fn(async (path: string) => {
    const err = this.errors.get(path);
    if (err) throw err;
    if (!this.objects.has(path)) throw notFound(path);
    return this.objects.get(path);
  });
  put = jest.fn(async (path: string, body: { value: unknown }) => {
    this.writes.push({ method: 'PUT', path, body });
    this.objects.set(path, body);
  });
  delete = jest.fn(async (path: string) => {
    this.writes.push({ method: 'DELETE', path });
    if (this.deleteError) throw this.deleteError;
    if (!this.objects.delete(path)) throw notFound(path);
  });
  /** The apply path's one request method. */
  send = jest.fn(async (method: string, path: string, body?: unknown) => {
    if (method === 'PUT') await this.put(path, body as { value: unknown });
    else if (method === 'DELETE') await this.delete(path);
    else return { body: await this.get(path), node: 'n1', status: 200, attempts: [] };
    return { body: undefined, node: 'n1', status: 204, attempts: [] };
  });
}

/** A stand-in for crossdock's AMQP session to one cluster: queue depths by name. */
class FakeSession {
  depths = new Map<string, number>();
  lastError?: string;
  closed = false;
  /** Handed to the engine (a session the test prepared is handed over once). */
  opened = false;
  ensure = jest.fn(async () => true);
  close = jest.fn(async () => void (this.closed = true));
  messageCount = jest.fn(async (queue: string) => this.depths.get(queue) ?? null);
}

const shovelPath = (name = 'orders') => managementPaths.shovel('/', spillShovelName(name));
const queuePath = (cluster: 'a' | 'b') =>
  managementPaths.queue('/', cluster === 'a' ? 'orders' : 'orders-spill');

function world(env: Record<string, unknown> = {}) {
  const clock = new FakeClock();
  const ds = new FakeDataSource();
  const rules: OverflowRuleEntity[] = [];
  Object.assign(ds, { getRepository: () => ({ find: async () => rules }) });
  ds.on(/SELECT DISTINCT site_id/, [{ site_id: 's1' }, { site_id: 's2' }]);
  ds.on(/FROM clusters c JOIN sites s ON s.id = c.site_id WHERE c.id = \$1$/, [
    { name: 'site-b/main' },
  ]);
  ds.on(/link_endpoints/, [
    {
      id: 'b',
      site_id: 's2',
      link_endpoints: [{ host: 'b.example', port: 5672 }],
      tls: null,
      runner_tls: null,
      load_balancer_host: null,
      load_balancer_port: null,
    },
  ]);
  const held = { ids: undefined as string[] | undefined };
  const locks = { sync: jest.fn(), close: jest.fn(async () => undefined) };
  locks.sync.mockImplementation(async (ids: string[]) => new Set(held.ids ?? ids));
  (PathLocks as jest.Mock).mockImplementation(() => locks);
  const lock = {
    stillHeld: jest.fn(async () => true),
    guardWrite: jest.fn(async () => undefined),
    release: jest.fn(async () => undefined),
  };
  (ClusterLock.tryAcquire as jest.Mock).mockResolvedValue(lock);
  const brokers = { a: new FakeBroker(), b: new FakeBroker() };
  const sessions = new Map<string, FakeSession>();
  const session = (cluster: string) => {
    const s = sessions.get(cluster) ?? new FakeSession();
    sessions.set(cluster, s);
    return s;
  };
  const versions: Record<string, number> = { a: 1, b: 1 };
  const clusters = {
    access: jest.fn(async (id: string) => ({
      cluster: { id, managementScheme: 'http', credentialsVersion: versions[id] },
      nodes: [{ name: 'n1', host: id, amqpPort: 5672, managementPort: 15672 }],
      username: 'admin',
      password: 'pw',
      networks: {},
    })),
  };
  const guards: (() => Promise<void>)[] = [];
  const gateway = {
    management: jest.fn(
      (access: { cluster: { id: 'a' | 'b' } }, opts?: { writeGuard?: () => Promise<void> }) => {
        if (opts?.writeGuard) guards.push(opts.writeGuard);
        return brokers[access.cluster.id];
      },
    ),
    amqpSession: jest.fn((o: { endpoints: { host: string }[] }) => {
      const host = o.endpoints[0].host;
      const prev = sessions.get(host);
      if (prev && !prev.opened) {
        prev.opened = true;
        return prev;
      }
      // A reopened session is a new object (the test sees the old one closed) with the same queues.
      const s = new FakeSession();
      s.opened = true;
      if (prev) {
        s.depths = prev.depths;
        s.lastError = prev.lastError;
      }
      sessions.set(host, s);
      return s;
    }),
  };
  const path = { up: true, reason: 'probes are crossing' };
  const probes = { pathStatus: jest.fn(async () => path) };
  const audit = {
    recordMany: jest.fn(async (_m: unknown, events: unknown[]) =>
      events.map((_, i) => ({ seq: String(i + 1), hash: 'h' })),
    ),
    record: jest.fn(async () => ({ seq: '1', hash: 'h' })),
  };
  /** The audit events of the engine's broker writes (intent and outcome), in order. */
  const writeEvents = () =>
    audit.recordMany.mock.calls.flatMap(
      (c) => c[1] as { action: string; details: Record<string, unknown> }[],
    );
  const registry = new Registry();
  const timers = new Map<string, NodeJS.Timeout>();
  const scheduler = {
    addInterval: (name: string, t: NodeJS.Timeout) => {
      clearInterval(t); // the test drives the ticks
      timers.set(name, t);
    },
    doesExist: (_k: string, name: string) => timers.has(name),
    deleteInterval: (name: string) => timers.delete(name),
  };
  const svc = new OverflowEngineService(
    ds as never,
    clusters as never,
    probes as never,
    audit as never,
    {} as never,
    {
      OVERFLOW_ENABLED: 'true',
      OVERFLOW_INTERVAL_MS: 1000,
      BROKER_HTTP_TIMEOUT_MS: 1000,
      LINK_USER_NAME: 'crossdock-link',
      ...env,
    } as never,
    { registry } as never,
    {} as never,
    scheduler as never,
    gateway as never,
    clock,
  );
  svc.onApplicationBootstrap();
  const tick = () => (svc as unknown as { tick(): Promise<void> }).tick();
  const rule = (over: Partial<OverflowRuleEntity> = {}): OverflowRuleEntity => {
    const r = {
      id: 'r1',
      seq: '1',
      name: 'orders',
      clusterId: 'a',
      vhost: '/',
      queue: 'orders',
      remoteClusterId: 'b',
      remoteVhost: '/',
      remoteQueue: 'orders-spill',
      remoteExchange: null,
      remoteRoutingKey: null,
      highWatermark: 1000,
      lowWatermark: 100,
      minHoldMs: 0,
      remoteMaxDepth: null,
      prefetch: 50,
      batchLimit: 5000,
      enabled: true,
      state: 'inactive',
      stateReason: '',
      stateSince: new Date(clock.nowMs() - 60000),
      batch: null,
      diverted: '0',
      activations: 0,
      lastDepth: null,
      lastEvaluatedAt: null,
      version: 1,
      createdAt: new Date(0),
      updatedAt: new Date(0),
      ...over,
    } as OverflowRuleEntity;
    rules.push(r);
    return r;
  };
  /** The last evaluation stored: [id, ...] of the plain UPDATE or of the state change. */
  const stored = () => {
    const q = ds.queries.filter((x) => /UPDATE overflow_rules/.test(x.sql)).at(-1);
    if (!q) return undefined;
    const changed = /state = \$2/.test(q.sql);
    const [id, ...rest] = q.params as unknown[];
    const [state, reason, depth, batch, diverted, activations] = changed
      ? rest
      : [undefined, ...rest];
    return {
      id,
      changed,
      state,
      reason: reason as string,
      depth,
      batch: batch ? (JSON.parse(batch as string) as OverflowBatch) : null,
      diverted,
      activations,
    };
  };
  /** The spill consumer on the watched queue, on channel `channel` with `ack` acks. */
  const spillConsumer = (channel: string, ack?: number) => {
    brokers.a.objects.set(queuePath('a'), {
      consumer_details: [
        { arguments: {}, channel_details: { name: 'local', user: 'app' } },
        { arguments: { 'x-priority': -1 }, channel_details: { name: channel, user: 'none' } },
      ],
    });
    brokers.a.objects.set(
      managementPaths.channel(channel),
      ack === undefined ? {} : { message_stats: { ack } },
    );
  };
  const shovelRunning = (state = 'running', extra: Record<string, unknown> = {}) => {
    brokers.a.objects.set(shovelPath(), { value: {} });
    brokers.a.objects.set(managementPaths.shovels('/'), [
      { vhost: '/', name: spillShovelName('orders'), state, ...extra },
    ]);
  };
  const batch = (over: Partial<OverflowBatch> = {}): OverflowBatch => ({
    budget: 5000,
    startedAt: new Date(clock.nowMs() - 120000).toISOString(),
    acked: 0,
    ackedChangedAt: new Date(clock.nowMs() - 120000).toISOString(),
    ...over,
  });
  return {
    svc,
    ds,
    clock,
    rules,
    rule,
    held,
    locks,
    lock,
    brokers,
    session,
    sessions,
    versions,
    clusters,
    gateway,
    guards,
    path,
    probes,
    audit,
    writeEvents,
    registry,
    timers,
    tick,
    stored,
    spillConsumer,
    shovelRunning,
    batch,
  };
}

// The failures these tests provoke are logged by design; the assertions say what matters.
beforeAll(() => Logger.overrideLogger(false));
afterAll(() => Logger.overrideLogger(new ConsoleLogger()));
afterEach(() => jest.clearAllMocks());

describe('OverflowEngineService (the overflow engine)', () => {
  it('does not schedule anything when overflow is disabled', () => {
    const w = world({ OVERFLOW_ENABLED: 'false' });
    expect(w.timers.size).toBe(0);
    expect(PathLocks).not.toHaveBeenCalled();
  });

  it('below the high watermark: stores the depth, no state change, no broker write', async () => {
    const w = world();
    w.rule();
    w.session('a').depths.set('orders', 10);
    await w.tick();
    expect(w.stored()).toMatchObject({
      changed: false,
      reason: 'depth 10 below high 1000',
      depth: 10,
      batch: null,
      diverted: '0',
    });
    expect(w.brokers.a.writes).toEqual([]);
    expect(w.audit.record).not.toHaveBeenCalled();
    const metrics = await w.registry.getSingleMetricAsString('crossdock_overflow_queue_depth');
    expect(metrics).toContain('crossdock_overflow_queue_depth{rule="orders"} 10');
  });

  it('above the high watermark: puts the spill shovel under the cluster lock, ledger first, audited', async () => {
    const w = world();
    w.rule();
    w.session('a').depths.set('orders', 1500);
    w.brokers.a.objects.set(queuePath('a'), { arguments: { 'x-queue-type': 'quorum' } });
    w.brokers.b.objects.set(queuePath('b'), { arguments: { 'x-queue-type': 'classic' } });
    await w.tick();

    expect(ClusterLock.tryAcquire).toHaveBeenCalledWith(expect.anything(), 'a');
    expect(w.lock.release).toHaveBeenCalled();
    const put = w.brokers.a.writes.find((x) => x.method === 'PUT');
    expect(put?.path).toBe(shovelPath());
    const value = (put?.body as { value: Record<string, unknown> }).value;
    expect(value).toMatchObject({
      'src-queue': 'orders',
      'src-queue-args': { 'x-queue-type': 'quorum' },
      'src-consumer-args': { 'x-priority': -1 },
      'src-delete-after': 5000,
      'src-prefetch-count': 50,
      'dest-queue': 'orders-spill',
      'dest-queue-args': { 'x-queue-type': 'classic' },
      'dest-add-forward-headers': false,
    });
    expect(String(value['dest-uri'])).toContain('b.example');
    // The write went through a client guarded by the lock's lease check.
    expect(w.guards).toHaveLength(1);
    await w.guards[0]();
    expect(w.lock.guardWrite).toHaveBeenCalled();

    // Through the shared apply path: the ledger claim commits before the write, then confirms.
    const ledger = w.ds.queries.findIndex((q) => /INSERT INTO managed_objects/.test(q.sql));
    expect(ledger).toBeGreaterThanOrEqual(0);
    expect(w.ds.queries[ledger].params).toEqual([
      'a',
      ['shovel'],
      ['/'],
      [spillShovelName('orders')],
      [overflowOwner('r1')],
    ]);
    expect(w.ds.ran(/SET confirmed = true/)).toEqual([
      ['a', ['shovel'], ['/'], [spillShovelName('orders')]],
    ]);
    expect(w.writeEvents().map((e) => e.action)).toEqual([
      'overflow.shovel.put.intent',
      'overflow.shovel.put.succeeded',
    ]);
    expect(w.writeEvents()[1]).toMatchObject({
      resourceType: 'overflow-rule',
      resourceId: 'r1',
      clusterIds: ['a', 'b'],
      details: { shovel: spillShovelName('orders'), vhost: '/', budget: 5000 },
    });
    // The shovel's URIs carry the link credential: never in the audit trail.
    expect(JSON.stringify(w.writeEvents())).not.toContain('link-secret');

    const s = w.stored();
    expect(s).toMatchObject({ changed: true, state: 'starting', activations: 1, depth: 1500 });
    expect(s?.batch).toEqual({
      budget: 5000,
      startedAt: w.clock.now().toISOString(),
      acked: 0,
      ackedChangedAt: w.clock.now().toISOString(),
    });
    expect(w.audit.record).toHaveBeenCalledWith(
      expect.anything(),
      expect.objectContaining({
        action: 'overflow.state.changed',
        siteIds: ['s1', 's2'],
        before: { state: 'inactive', reason: '' },
        after: expect.objectContaining({ state: 'starting' }),
      }),
    );
    const activations = await w.registry.getSingleMetricAsString(
      'crossdock_overflow_activations_total',
    );
    expect(activations).toContain('{rule="orders"} 1');
  });

  it('a spill to an exchange, to a remote queue that does not exist yet', async () => {
    const w = world();
    w.rule({ remoteQueue: null, remoteExchange: 'x', remoteRoutingKey: 'k' });
    w.session('a').depths.set('orders', 1500);
    w.brokers.a.objects.set(queuePath('a'), {});
    await w.tick();
    const value = (w.brokers.a.writes[0].body as { value: Record<string, unknown> }).value;
    expect(value).toMatchObject({
      'dest-exchange': 'x',
      'dest-exchange-key': 'k',
      'src-queue-args': {},
    });
    expect(value['dest-queue']).toBeUndefined();

    const v = world();
    v.rule();
    v.session('a').depths.set('orders', 1500);
    v.brokers.a.objects.set(queuePath('a'), {});
    await v.tick();
    const value2 = (v.brokers.a.writes[0].body as { value: Record<string, unknown> }).value;
    expect(value2['dest-queue']).toBe('orders-spill');
    expect(value2['dest-queue-args']).toBeUndefined();
  });

  it('a spill to a site with a load balancer goes through it', async () => {
    const w = world();
    w.ds.on(/link_endpoints/, [
      {
        id: 'b',
        site_id: 's2',
        link_endpoints: [{ host: 'b.example', port: 5672 }],
        tls: null,
        runner_tls: null,
        load_balancer_host: 'lb.example',
        load_balancer_port: 5673,
      },
    ]);
    w.rule();
    w.session('a').depths.set('orders', 1500);
    w.brokers.a.objects.set(queuePath('a'), {});
    await w.tick();
    const value = (w.brokers.a.writes[0].body as { value: Record<string, unknown> }).value;
    expect(String(value['dest-uri'])).toContain('lb.example:5673');
    expect(String(value['dest-uri'])).not.toContain('@b.example');
  });

  it('a remote queue the broker cannot read fails the evaluation: nothing written, nothing stored', async () => {
    const w = world();
    w.rule();
    w.session('a').depths.set('orders', 1500);
    w.brokers.a.objects.set(queuePath('a'), {});
    w.brokers.b.errors.set(queuePath('b'), new Error('timeout'));
    await w.tick();
    expect(w.brokers.a.writes).toEqual([]);
    expect(w.stored()).toBeUndefined();
    expect(w.lock.release).toHaveBeenCalled();
  });

  it('a reconcile pass holding the cluster defers the write to the next tick', async () => {
    const w = world();
    w.rule();
    w.session('a').depths.set('orders', 1500);
    (ClusterLock.tryAcquire as jest.Mock).mockResolvedValueOnce(null);
    await w.tick();
    expect(w.brokers.a.writes).toEqual([]);
    expect(w.stored()).toBeUndefined();
  });

  it('activates one interval early when the depth grows towards the high watermark', async () => {
    const w = world();
    w.rule({ lastDepth: 400, lastEvaluatedAt: new Date(w.clock.nowMs() - 1000) });
    w.session('a').depths.set('orders', 800);
    w.brokers.a.objects.set(queuePath('a'), {});
    await w.tick();
    expect(w.stored()).toMatchObject({
      state: 'starting',
      reason: expect.stringMatching(/grows to 1200/),
    });

    // Shrinking, too old or in the future: no projection.
    for (const over of [
      { lastDepth: 900, lastEvaluatedAt: new Date(w.clock.nowMs() - 1000) },
      { lastDepth: 400, lastEvaluatedAt: new Date(w.clock.nowMs() - 10000) },
      { lastDepth: 400, lastEvaluatedAt: new Date(w.clock.nowMs() + 1000) },
    ]) {
      const v = world();
      v.rule(over);
      v.session('a').depths.set('orders', 800);
      await v.tick();
      expect(v.stored()).toMatchObject({ changed: false, reason: 'depth 800 below high 1000' });
    }
  });

  it('a running spill: its acks are counted per channel, and a restart on a new channel counts from 0', async () => {
    const w = world();
    const r = w.rule({ state: 'starting', batch: w.batch() });
    w.session('a').depths.set('orders', 900);
    w.shovelRunning();
    w.spillConsumer('ch1', 40);
    await w.tick();
    // No channel known yet: the batch's own count is the base.
    expect(w.stored()).toMatchObject({ changed: true, state: 'active' });
    expect(w.stored()?.batch).toMatchObject({
      acked: 40,
      channel: 'ch1',
      channelAcked: 40,
      ackedChangedAt: w.clock.now().toISOString(),
    });

    r.state = 'active';
    r.batch = w.stored()?.batch ?? null;
    w.clock.advance(1000);
    w.spillConsumer('ch1', 70);
    await w.tick();
    expect(w.stored()?.batch).toMatchObject({ acked: 70, channelAcked: 70 });
    expect(w.stored()).toMatchObject({ changed: false, reason: 'diverting: depth 900' });

    r.batch = w.stored()?.batch ?? null;
    w.clock.advance(1000);
    w.spillConsumer('ch2', 5);
    await w.tick();
    expect(w.stored()?.batch).toMatchObject({ acked: 75, channel: 'ch2', channelAcked: 5 });
    // Finished batches plus what the running one moved so far, in the stored values.
    expect(w.stored()?.diverted).toBe('0');

    // Unchanged counter: no progress, the change time stays.
    r.batch = w.stored()?.batch ?? null;
    const changedAt = r.batch?.ackedChangedAt;
    w.clock.advance(1000);
    await w.tick();
    expect(w.stored()?.batch).toMatchObject({ acked: 75, ackedChangedAt: changedAt });
  });

  it('a spill consumer without statistics, or no spill consumer at all', async () => {
    const w = world();
    const r = w.rule({
      state: 'active',
      batch: w.batch({ acked: 10, channel: 'ch1', channelAcked: 10 }),
    });
    w.session('a').depths.set('orders', 900);
    w.shovelRunning();
    w.spillConsumer('ch1');
    await w.tick();
    // Counter read as 0 on the same channel: no progress, nothing lost.
    expect(w.stored()?.batch).toMatchObject({ acked: 10, channelAcked: 0 });

    r.batch = w.batch({ acked: 10 });
    w.brokers.a.objects.set(queuePath('a'), {});
    await w.tick();
    expect(w.stored()?.batch).toMatchObject({ acked: 10 });
    expect(w.stored()?.batch?.channel).toBeUndefined();

    w.brokers.a.errors.set(queuePath('a'), new Error('timeout'));
    await w.tick();
    expect(w.stored()?.batch?.channel).toBeUndefined();
  });

  it('below the low watermark with an idle spill: stops it, forgets its ledger row, counts what it moved', async () => {
    const w = world();
    w.rule({
      state: 'active',
      diverted: '100',
      batch: w.batch({ acked: 30, channel: 'ch1', channelAcked: 30 }),
    });
    w.session('a').depths.set('orders', 5);
    w.shovelRunning();
    w.spillConsumer('ch1', 30);
    await w.tick();
    expect(w.brokers.a.writes).toEqual([{ method: 'DELETE', path: shovelPath() }]);
    expect(w.ds.ran(/DELETE FROM managed_objects/)).toEqual([
      ['a', ['shovel'], ['/'], [spillShovelName('orders')]],
    ]);
    expect(w.writeEvents().map((e) => e.action)).toEqual([
      'overflow.shovel.delete.intent',
      'overflow.shovel.delete.succeeded',
    ]);
    expect(w.writeEvents()[1]).toMatchObject({
      clusterIds: ['a', 'b'],
      details: expect.objectContaining({ reason: expect.stringMatching(/spill is idle/) }),
    });
    expect(w.stored()).toMatchObject({ state: 'draining', batch: null, diverted: '130' });
  });

  it('a stop deferred by a reconcile pass stores nothing; a failing delete fails the evaluation', async () => {
    const w = world();
    w.rule({ enabled: false, state: 'active', batch: w.batch({ acked: 3 }) });
    w.session('a').depths.set('orders', 500);
    w.shovelRunning();
    (ClusterLock.tryAcquire as jest.Mock).mockResolvedValueOnce(null);
    await w.tick();
    expect(w.brokers.a.writes).toEqual([]);
    expect(w.stored()).toBeUndefined();

    w.brokers.a.deleteError = new Error('503');
    await w.tick();
    expect(w.ds.ran(/DELETE FROM managed_objects/)).toEqual([]);
    expect(w.stored()).toBeUndefined();
  });

  it('a disabled rule whose shovel is already gone: stopping is fine, the batch ends', async () => {
    const w = world();
    w.rule({ enabled: false, state: 'draining', batch: null });
    w.session('a').depths.set('orders', 500);
    // Unreadable, and no batch running: assumed absent.
    w.brokers.a.errors.set(shovelPath(), new Error('timeout'));
    await w.tick();
    expect(w.stored()).toMatchObject({ state: 'inactive', reason: 'rule disabled' });

    const v = world();
    v.rule({ enabled: false, state: 'active', batch: v.batch({ acked: 7 }) });
    v.session('a').depths.set('orders', 500);
    // Unreadable, and a batch is running: assumed present, so it is stopped (gone already is fine).
    v.brokers.a.errors.set(shovelPath(), new Error('timeout'));
    await v.tick();
    expect(v.brokers.a.writes).toEqual([{ method: 'DELETE', path: shovelPath() }]);
    expect(v.stored()).toMatchObject({ state: 'draining', batch: null, diverted: '7' });
  });

  it('a batch that ended by itself is re-armed while the queue is above the low watermark', async () => {
    const w = world();
    w.rule({ state: 'active', diverted: '1000', batch: w.batch({ acked: 4000 }) });
    w.session('a').depths.set('orders', 900);
    w.brokers.a.objects.set(queuePath('a'), {});
    await w.tick();
    expect(w.brokers.a.writes.map((x) => x.method)).toEqual(['PUT']);
    // The finished batch moved its whole budget.
    expect(w.stored()).toMatchObject({
      changed: false,
      reason: 'batch done, depth 900',
      diverted: '6000',
    });
    expect(w.stored()?.batch).toMatchObject({ budget: 5000, acked: 0 });
  });

  it('a batch that ended by itself with the queue drained: the rule goes inactive', async () => {
    const w = world();
    w.rule({ state: 'draining', diverted: '0', batch: w.batch({ acked: 4000 }) });
    w.session('a').depths.set('orders', 50);
    await w.tick();
    expect(w.stored()).toMatchObject({ state: 'inactive', batch: null, diverted: '5000' });
    expect(w.brokers.a.writes).toEqual([]);
  });

  it('a remote path without probes closes the gate: nothing starts, a running spill stops only after two intervals', async () => {
    const w = world();
    w.rule();
    w.path.up = false;
    w.path.reason = 'probes are not crossing the path';
    w.session('a').depths.set('orders', 1500);
    await w.tick();
    expect(w.stored()).toMatchObject({
      state: 'suspended',
      reason: expect.stringMatching(/remote link unhealthy: probes are not crossing/),
    });
    expect(w.brokers.a.writes).toEqual([]);

    const v = world();
    const r = v.rule({
      state: 'active',
      batch: v.batch({ acked: 5, channel: 'c', channelAcked: 5 }),
    });
    v.path.up = false;
    v.session('a').depths.set('orders', 1500);
    v.shovelRunning();
    v.spillConsumer('c', 6);
    await v.tick();
    // One late probe does not stop a busy spill.
    expect(v.brokers.a.writes).toEqual([]);
    expect(v.stored()).toMatchObject({ changed: false, reason: 'diverting: depth 1500' });
    r.batch = v.stored()?.batch ?? null;
    v.clock.advance(2000);
    await v.tick();
    expect(v.brokers.a.writes).toEqual([{ method: 'DELETE', path: shovelPath() }]);
    expect(v.stored()).toMatchObject({ state: 'suspended', batch: null });

    // The gate opens again: the debounce starts over.
    r.state = 'active';
    v.path.up = true;
    await v.tick();
    v.path.up = false;
    v.shovelRunning();
    const writes = v.brokers.a.writes.length;
    await v.tick();
    expect(v.brokers.a.writes.length).toBe(writes);
  });

  it('a full or unreadable remote target closes the gate', async () => {
    const w = world();
    w.rule({ remoteMaxDepth: 100 });
    w.session('a').depths.set('orders', 1500);
    await w.tick();
    expect(w.stored()?.reason).toMatch(/remote target depth not readable/);

    w.session('b').depths.set('orders-spill', 100);
    await w.tick();
    expect(w.stored()?.reason).toMatch(/remote target holds 100 >= its limit 100/);

    w.session('b').depths.set('orders-spill', 10);
    w.brokers.a.objects.set(queuePath('a'), {});
    await w.tick();
    expect(w.stored()).toMatchObject({ state: 'starting' });
  });

  it('a spill that moves nothing is failing, with the cause crossdock can see', async () => {
    const w = world();
    const r = w.rule({
      state: 'active',
      batch: w.batch({ acked: 5, channel: 'c', channelAcked: 5 }),
    });
    w.session('a').depths.set('orders', 900);
    w.shovelRunning('terminated', { node: 'rabbit@a1', reason: 'NOT_FOUND' });
    w.spillConsumer('c', 5);
    w.session('b').lastError = 'NOT_FOUND - no queue';
    await w.tick();
    const s = w.stored();
    expect(s).toMatchObject({ state: 'failing' });
    expect(s?.reason).toMatch(
      /remote queue "orders-spill" missing in vhost "\/" on cluster site-b\/main .*spill shovel terminated on rabbit@a1: NOT_FOUND/,
    );
    expect(s?.batch?.failure).toEqual({
      reason: 'spill shovel terminated on rabbit@a1: NOT_FOUND',
      since: w.clock.now().toISOString(),
    });

    // The remote queue exists: the broker's words alone.
    r.state = 'failing';
    r.batch = s?.batch ?? null;
    w.shovelRunning();
    w.session('b').depths.set('orders-spill', 0);
    await w.tick();
    expect(w.stored()?.reason).not.toMatch(/missing/);
    expect(w.stored()?.reason).toMatch(/last seen/);

    // Not readable for another reason.
    w.session('b').depths.delete('orders-spill');
    w.session('b').lastError = 'connection refused';
    await w.tick();
    expect(w.stored()?.reason).not.toMatch(/missing/);

    // The cluster's name is unknown: its id; the session cannot be opened: the problem alone.
    w.session('b').lastError = '404';
    w.ds.on(/FROM clusters c JOIN sites s ON s.id = c.site_id WHERE c.id = \$1$/, []);
    await w.tick();
    expect(w.stored()?.reason).toMatch(/on cluster b /);
    w.clusters.access.mockImplementation(async (id: string) => {
      if (id === 'b') throw new Error('gone');
      return {
        cluster: { id, managementScheme: 'http', credentialsVersion: 1 },
        nodes: [{ name: 'n1', host: id, amqpPort: 5672, managementPort: 15672 }],
        username: 'admin',
        password: 'pw',
        networks: {},
      } as never;
    });
    await w.tick();
    expect(w.stored()?.reason).toMatch(/^the spill moves nothing: spill shovel terminated/);
  });

  it('a spill to an exchange that moves nothing: the broker status says why', async () => {
    const w = world();
    w.rule({
      remoteQueue: null,
      remoteExchange: 'x',
      state: 'starting',
      batch: w.batch(),
    });
    w.session('a').depths.set('orders', 900);
    w.brokers.a.objects.set(shovelPath(), { value: {} });
    w.brokers.a.objects.set(managementPaths.shovels('/'), []);
    w.spillConsumer('c', 0);
    await w.tick();
    expect(w.stored()?.reason).toMatch(/the broker lists no status for it/);

    // An unreadable status list, or one that does not parse, is no verdict.
    w.brokers.a.errors.set(managementPaths.shovels('/'), new Error('timeout'));
    await w.tick();
    expect(w.stored()?.reason).toMatch(/moved nothing for/);
    w.brokers.a.errors.clear();
    w.brokers.a.objects.set(managementPaths.shovels('/'), { not: 'a list' });
    await w.tick();
    expect(w.stored()?.reason).toMatch(/moved nothing for/);
  });

  it('an unreadable depth changes nothing', async () => {
    const w = world();
    w.rule({ state: 'active', batch: w.batch({ acked: 1 }) });
    w.shovelRunning();
    await w.tick();
    expect(w.stored()).toMatchObject({
      changed: false,
      reason: 'queue depth not readable',
      depth: null,
    });
  });

  it('a new spill counts as busy until its consumer shows in the statistics', async () => {
    const w = world();
    w.rule({
      state: 'starting',
      minHoldMs: 0,
      batch: w.batch({
        startedAt: w.clock.now().toISOString(),
        ackedChangedAt: w.clock.now().toISOString(),
      }),
    });
    w.session('a').depths.set('orders', 50);
    w.shovelRunning();
    w.brokers.a.objects.set(queuePath('a'), { consumer_details: [] });
    await w.tick();
    // Not idle (young), so not stopped though below the low watermark.
    expect(w.brokers.a.writes).toEqual([]);
    expect(w.stored()).toMatchObject({ changed: false });

    // Old and still not measurable: draining, the shovel stops once the queue is empty.
    const v = world();
    v.rule({ state: 'active', batch: v.batch({ acked: 3 }) });
    v.session('a').depths.set('orders', 50);
    v.shovelRunning();
    v.brokers.a.objects.set(queuePath('a'), { consumer_details: [] });
    await v.tick();
    expect(v.stored()).toMatchObject({
      state: 'draining',
      reason: expect.stringMatching(/once the queue is empty/),
    });
  });

  it('sessions follow the cluster access: new credentials end the old session; no access drops it', async () => {
    const w = world();
    w.rule();
    w.session('a').depths.set('orders', 10);
    await w.tick();
    const first = w.sessions.get('a') as FakeSession;
    await w.tick();
    expect(w.sessions.get('a')).toBe(first);
    expect(w.gateway.amqpSession).toHaveBeenCalledTimes(1);

    w.versions.a = 2;
    await w.tick();
    expect(first.closed).toBe(true);
    const second = w.sessions.get('a') as FakeSession;
    expect(second).not.toBe(first);

    w.clusters.access.mockRejectedValueOnce(new Error('cluster gone'));
    const updates = w.ds.ran(/UPDATE overflow_rules/).length;
    await w.tick();
    expect(second.closed).toBe(true);
    expect(w.ds.ran(/UPDATE overflow_rules/)).toHaveLength(updates);
  });

  it('a deleted rule: its spill shovel and ledger row go, where this instance holds the orphan', async () => {
    const w = world();
    w.ds.on(/WHERE m.owner LIKE 'overflow:%'/, [
      { cluster_id: 'a', vhost: '/', name: spillShovelName('gone'), owner: overflowOwner('r9') },
      { cluster_id: 'a', vhost: '/', name: spillShovelName('other'), owner: overflowOwner('r8') },
    ]);
    w.held.ids = [overflowOwner('r9')];
    w.brokers.a.objects.set(shovelPath('gone'), { value: {} });
    await w.tick();
    expect(w.locks.sync).toHaveBeenCalledWith([overflowOwner('r9'), overflowOwner('r8')]);
    expect(w.brokers.a.writes).toEqual([{ method: 'DELETE', path: shovelPath('gone') }]);
    expect(w.writeEvents()[1]).toMatchObject({
      action: 'overflow.shovel.delete.succeeded',
      resourceId: 'r9',
      resourceName: 'gone',
      clusterIds: ['a'],
      details: expect.objectContaining({ reason: 'rule deleted' }),
    });
    expect(w.ds.ran(/DELETE FROM managed_objects/)).toEqual([
      ['a', ['shovel'], ['/'], [spillShovelName('gone')]],
    ]);

    // Locked by a pass: left for the next tick.
    (ClusterLock.tryAcquire as jest.Mock).mockResolvedValueOnce(null);
    await w.tick();
    expect(w.ds.ran(/DELETE FROM managed_objects/)).toHaveLength(1);
  });

  it('rules held by another instance are not evaluated, and their series go', async () => {
    const w = world();
    w.rule();
    w.rule({ id: 'r2', name: 'invoices', queue: 'invoices' });
    w.session('a').depths.set('orders', 10);
    w.session('a').depths.set('invoices', 20);
    await w.tick();
    let depth = await w.registry.getSingleMetricAsString('crossdock_overflow_queue_depth');
    expect(depth).toContain('rule="invoices"');
    w.held.ids = ['r1'];
    await w.tick();
    depth = await w.registry.getSingleMetricAsString('crossdock_overflow_queue_depth');
    expect(depth).not.toContain('rule="invoices"');
    expect(depth).toContain('rule="orders"');
  });

  it('a failing tick only logs; ticks do not overlap; shutdown waits and closes', async () => {
    const w = world();
    w.rule();
    w.session('a').depths.set('orders', 10);
    w.locks.sync.mockRejectedValueOnce(new Error('db away'));
    await expect(w.tick()).resolves.toBeUndefined();
    expect(w.stored()).toBeUndefined();

    // A tick while one runs does nothing.
    let release!: () => void;
    w.locks.sync.mockImplementationOnce(
      () => new Promise((r) => (release = () => r(new Set(['r1'])))),
    );
    const slow = w.tick();
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    await w.tick();
    expect(w.locks.sync).toHaveBeenCalledTimes(2);
    const down = w.svc.onModuleDestroy();
    release();
    await slow;
    await down;
    expect(w.sessions.get('a')?.closed).toBe(true);
    expect(w.locks.close).toHaveBeenCalled();
    expect(w.timers.size).toBe(0);
    await w.tick();
    expect(w.locks.sync).toHaveBeenCalledTimes(2);
  });
});
