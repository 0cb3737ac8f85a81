import { ConsoleLogger, Logger } from '@nestjs/common';
import type { ConsumeOptions } from '../broker/amqp-session.types';
import { FakeClock } from '../common/clock/fake-clock';
import { FakeDataSource } from '../database/testing/fake-data-source';
import { readClusterFacts, unreadableFacts } from './broker-facts';
import { consumeQueue } from './path-state';
import { PathLocks } from './path-locks';
import { ProbeService } from './probe.service';
import { loadLinkModel, type LinkModel, type ProbeModel } from './probe-model';
import { probeNames, probePathId } from './probe-topology';

jest.mock('./probe-model', () => ({ loadLinkModel: jest.fn() }));
jest.mock('./path-locks', () => ({ PathLocks: jest.fn() }));
jest.mock('../database/lock-session', () => ({ lockSessionOptions: () => ({}) }));
jest.mock('./broker-facts', () => ({
  readClusterFacts: jest.fn(),
  unreadableFacts: jest.fn((id: string) => ({ clusterId: id, error: 'unreadable', alarms: [] })),
  readAlarms: jest.fn(async () => []),
}));

type Handler = (msg: { content: Buffer }) => void;

/** A stand-in for crossdock's AMQP session to one cluster; `net` routes what it publishes. */
class FakeSession {
  up = true;
  blocked?: string;
  epoch = 1;
  lastError?: string;
  consumers = new Map<string, Handler>();
  published: { exchange: string; key: string; body: Buffer }[] = [];
  failPublish = false;
  notConsumable = false;
  closed = false;
  constructor(readonly clusterId: string) {}
  ensure = jest.fn(async () => this.up);
  close = jest.fn(async () => void (this.closed = true));
  cancel = jest.fn(async (q: string) => void this.consumers.delete(q));
  bind = jest.fn(async () => true);
  consume(queue: string, handler: Handler, _o?: ConsumeOptions): void {
    this.consumers.set(queue, handler);
  }
  consuming(queue: string): boolean {
    return !this.notConsumable && this.consumers.has(queue);
  }
  async consumeExclusive(_args: unknown, handler: Handler): Promise<string> {
    const q = `loop.${this.clusterId}`;
    this.consumers.set(q, handler);
    return q;
  }
  async publish(exchange: string, key: string, body: Buffer): Promise<boolean> {
    if (this.failPublish) throw new Error('nack');
    this.published.push({ exchange, key, body });
    return true;
  }
}

const link = (over: Partial<LinkModel> = {}): LinkModel => ({
  id: 'l1',
  kind: 'federation',
  name: 'orders',
  federationKind: 'exchange',
  fromClusterId: 'a',
  toClusterId: 'b',
  fromVhost: '/',
  toVhost: '/',
  targets: ['x'],
  targetPrefix: null,
  sourceQueue: null,
  paused: false,
  ...over,
});

const settle = async () => {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
};

function world(links: LinkModel[] = [link()], env: Record<string, unknown> = {}) {
  const clock = new FakeClock();
  const ds = new FakeDataSource();
  const sessions = new Map<string, FakeSession>();
  const held = { ids: undefined as string[] | undefined };
  (PathLocks as jest.Mock).mockImplementation(() => ({
    sync: async (ids: string[]) => new Set(held.ids ?? ids),
    close: async () => undefined,
  }));
  const model: ProbeModel = {
    links,
    health: new Map(),
    clusterName: (id) => id,
    clusterSite: () => 's',
    clusterVersion: () => 1,
    rtt: () => 10,
  };
  (loadLinkModel as jest.Mock).mockResolvedValue(model);
  (readClusterFacts as jest.Mock).mockImplementation(async (id: string) => ({
    clusterId: id,
    readAt: clock.nowMs(),
    alarms: [],
  }));
  const timers = new Map<string, NodeJS.Timeout>();
  const scheduler = {
    addInterval: (name: string, t: NodeJS.Timeout) => {
      clearInterval(t); // the test drives the ticks
      timers.set(name, t);
    },
    doesExist: (_k: string, name: string) => timers.has(name),
    deleteInterval: (name: string) => timers.delete(name),
  };
  const recorder = { evaluate: jest.fn(async () => undefined), flushRefreshes: jest.fn() };
  const metrics = {
    lag: { observe: jest.fn() },
    lost: { inc: jest.fn() },
    pathUp: { set: jest.fn() },
    retain: jest.fn(async () => undefined),
  };
  const certs = { due: jest.fn(() => false), read: jest.fn(), last: jest.fn(() => undefined) };
  const clusters = {
    access: jest.fn(async (id: string) => ({
      cluster: { id, managementScheme: 'http' },
      nodes: [{ name: 'n', host: `${id}.example`, amqpPort: 5672, managementPort: 15672 }],
      username: 'admin',
      password: 'pw',
      networks: {},
    })),
  };
  const gateway = {
    management: jest.fn(() => ({})),
    amqpSession: jest.fn((o: { endpoints: { host: string }[]; onBlocked: () => void }) => {
      const id = o.endpoints[0].host.split('.')[0];
      const s = sessions.get(id) ?? new FakeSession(id);
      sessions.set(id, s);
      return s;
    }),
  };
  const svc = new ProbeService(
    ds as never,
    clusters as never,
    {
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: 1000,
      PROBE_WINDOW_MS: 60000,
      PROBE_BROKER_POLL_MS: 5000,
      PROBE_RETENTION_HOURS: 24,
      BROKER_HTTP_TIMEOUT_MS: 1000,
      TLS_CERT_WARN_DAYS: 30,
      TLS_CERT_CRITICAL_DAYS: 7,
      ...env,
    } as never,
    recorder as never,
    metrics as never,
    certs as never,
    scheduler as never,
    gateway as never,
    clock,
  );
  const tick = async () => {
    await (svc as unknown as { tick(): Promise<void> }).tick();
    await settle();
  };
  /** Hands every probe published at `from` to the consumers of `to` (the link crossing). */
  const cross = (from: string, to: string, queue: string) => {
    const src = sessions.get(from) as FakeSession;
    const dst = sessions.get(to) as FakeSession;
    for (const m of src.published.splice(0)) dst.consumers.get(queue)?.({ content: m.body });
  };
  /** Loopback probes come straight back. */
  const loop = (id: string) => {
    const s = sessions.get(id) as FakeSession;
    const q = `loop.${id}`;
    for (const m of s.published.filter((p) => p.key === q))
      s.consumers.get(q)?.({ content: m.body });
    s.published = s.published.filter((p) => p.key !== q);
  };
  svc.onApplicationBootstrap();
  return {
    svc,
    ds,
    clock,
    sessions,
    held,
    recorder,
    metrics,
    certs,
    clusters,
    tick,
    cross,
    loop,
    model,
  };
}

const pathId = probePathId('federation', 'a', 'b');
const queueAB = consumeQueue({
  id: pathId,
  kind: 'federation',
  fromClusterId: 'a',
  toClusterId: 'b',
  linkIds: [],
});

// The failures these tests provoke are logged by design; the assertions say what matters.
beforeAll(() => Logger.overrideLogger(false));
afterAll(() => Logger.overrideLogger(new ConsoleLogger()));
afterEach(() => jest.clearAllMocks());

describe('ProbeService (the probe loop)', () => {
  it('does nothing when probes are disabled', () => {
    const w = world([], { PROBES_ENABLED: 'false' });
    expect(w.svc.enabled).toBe(false);
  });

  it('a probe that crosses: the path is up, its lag recorded, the link evaluated', async () => {
    const w = world();
    await w.tick();
    const a = w.sessions.get('a') as FakeSession;
    const b = w.sessions.get('b') as FakeSession;
    expect(b.bind).toHaveBeenCalledWith(queueAB, probeNames.exchange('a', 'b'));
    expect(a.published.some((p) => p.exchange === probeNames.exchange('a', 'b'))).toBe(true);
    w.loop('a');
    w.loop('b');
    w.clock.advance(30);
    w.cross('a', 'b', queueAB);
    await w.tick();
    expect(await w.svc.pathStatus(pathId)).toEqual({ up: true, reason: 'probes are crossing' });
    expect(w.metrics.lag.observe).toHaveBeenCalledWith({ path: pathId }, expect.any(Number));
    expect(w.recorder.evaluate).toHaveBeenCalledWith(
      expect.objectContaining({ pathId, link: expect.objectContaining({ id: 'l1' }) }),
    );
    expect(w.svc.heldPaths().map((p) => p.id)).toEqual([pathId]);
    expect(w.svc.baseline(w.svc.heldPaths()[0].path)).toBe(0);

    // Samples are flushed every 2 s, rolled up and pruned every minute.
    w.clock.advance(61000);
    await w.tick();
    expect(w.ds.ran(/INSERT INTO probe_samples/)).toHaveLength(1);
    expect(w.ds.ran(/INSERT INTO probe_rollups/).length).toBeGreaterThan(0);
    await w.svc.onModuleDestroy();
    expect(a.closed && b.closed).toBe(true);
  });

  it('a probe not received within downAfterMs is lost and the path goes down', async () => {
    const w = world();
    await w.tick();
    const first = (w.sessions.get('a') as FakeSession).published.splice(0);
    w.clock.advance(5000);
    await w.tick();
    expect(w.metrics.lost.inc).toHaveBeenCalledWith({ path: pathId });
    const status = await w.svc.pathStatus(pathId);
    expect(status.up).toBe(false);
    expect(status.reason).toBe('probes are not crossing the path');
    // A probe that arrives after being counted lost changes nothing.
    const b = w.sessions.get('b') as FakeSession;
    for (const m of first) b.consumers.get(queueAB)?.({ content: m.body });
    expect(w.metrics.lag.observe).not.toHaveBeenCalled();
  });

  it('before any probe resolved, a path is not up yet', async () => {
    const w = world();
    await w.tick();
    expect(await w.svc.pathStatus(pathId)).toEqual({
      up: false,
      reason: 'no probe has crossed yet',
    });
  });

  it('says why a path cannot be measured', async () => {
    const w = world();
    await w.tick();
    const a = w.sessions.get('a') as FakeSession;
    const b = w.sessions.get('b') as FakeSession;

    b.up = false;
    b.lastError = 'refused';
    w.clock.advance(1000);
    await w.tick();
    expect((await w.svc.pathStatus(pathId)).reason).toMatch(
      /destination cluster over AMQP: refused/,
    );

    b.up = true;
    b.notConsumable = true;
    w.clock.advance(1000);
    await w.tick();
    expect((await w.svc.pathStatus(pathId)).reason).toMatch(/not consumable yet/);

    b.notConsumable = false;
    a.up = false;
    w.clock.advance(1000);
    await w.tick();
    expect((await w.svc.pathStatus(pathId)).reason).toMatch(/source cluster over AMQP/);

    a.up = true;
    a.blocked = 'low on memory';
    w.clock.advance(1000);
    await w.tick();
    expect((await w.svc.pathStatus(pathId)).reason).toMatch(/blocks publishing.*low on memory/);

    a.blocked = undefined;
    a.failPublish = true;
    w.clock.advance(1000);
    await w.tick();
    expect((await w.svc.pathStatus(pathId)).reason).toMatch(/did not confirm a probe: nack/);
  });

  it('drops paths whose lock another instance holds, and the clusters no path needs', async () => {
    const w = world();
    await w.tick();
    const b = w.sessions.get('b') as FakeSession;
    w.held.ids = [];
    w.clock.advance(1000);
    await w.tick();
    expect(w.svc.heldPaths()).toEqual([]);
    expect(b.cancel).toHaveBeenCalledWith(queueAB);
    expect(b.closed).toBe(true);
  });

  it('ignores what is not its own pending probe', async () => {
    const w = world();
    await w.tick();
    const b = w.sessions.get('b') as FakeSession;
    const deliver = (content: string) =>
      b.consumers.get(queueAB)?.({ content: Buffer.from(content) });
    deliver('not json');
    deliver(JSON.stringify({ i: 'another-instance', p: pathId, s: 1, t: 0 }));
    deliver(JSON.stringify({ i: w.svc.instanceId, p: 'other-path', s: 1, t: 0 }));
    deliver(JSON.stringify({ i: w.svc.instanceId, p: pathId, s: 99, t: 0 }));
    w.loop('a');
    (w.sessions.get('a') as FakeSession).consumers.get('loop.a')?.({
      content: Buffer.from(JSON.stringify({ i: w.svc.instanceId, p: 'loop:a', s: 42, t: 0 })),
    });
    expect(w.metrics.lag.observe).not.toHaveBeenCalled();
  });

  it('a path not probed here is judged by its stored samples', async () => {
    const w = world([]);
    expect((await w.svc.pathStatus('p')).reason).toBe('no probe has crossed this path yet');
    w.ds.on(/FROM probe_samples/, [{ lost: true, age_ms: 10 }]);
    expect((await w.svc.pathStatus('p')).reason).toBe('the last probe on the path was lost');
    w.ds.on(/FROM probe_samples/, [{ lost: false, age_ms: 60000 }]);
    expect((await w.svc.pathStatus('p')).reason).toMatch(/no probe crossed the path for 60000 ms/);
    w.ds.on(/FROM probe_samples/, [{ lost: false, age_ms: 10 }]);
    expect(await w.svc.pathStatus('p')).toEqual({ up: true, reason: 'probes are crossing' });
  });

  it('polls broker facts beside the rounds, and an unreadable cluster is recorded as such', async () => {
    const w = world([link(), link({ id: 'l2', kind: 'overflow' })]);
    w.certs.due.mockReturnValue(true);
    (readClusterFacts as jest.Mock).mockRejectedValueOnce(new Error('down'));
    await w.tick();
    expect(readClusterFacts).toHaveBeenCalledTimes(2);
    expect(unreadableFacts).toHaveBeenCalledWith('a', expect.any(Error));
    expect(w.certs.read).toHaveBeenCalled();
    // Overflow rules have no link health of their own.
    const judged = w.recorder.evaluate.mock.calls.map(
      (c) => (c as unknown as [{ link: LinkModel }])[0].link.id,
    );
    expect(judged).toContain('l1');
    expect(judged).not.toContain('l2');
  });

  it('keeps the backlog when Postgres is away, and a failing tick only logs', async () => {
    const w = world();
    await w.tick();
    w.loop('a');
    w.loop('b');
    w.cross('a', 'b', queueAB);
    w.ds.on(/INSERT INTO probe_samples/, () => {
      throw new Error('db away');
    });
    w.ds.on(/INSERT INTO probe_rollups/, () => {
      throw new Error('db away');
    });
    w.clock.advance(61000);
    await w.tick();
    (loadLinkModel as jest.Mock).mockRejectedValueOnce(new Error('registry away'));
    w.clock.advance(1000);
    await expect(w.tick()).resolves.toBeUndefined();
    w.ds.on(/INSERT INTO probe_samples/, []);
    w.clock.advance(3000);
    await w.tick();
    expect(w.ds.ran(/INSERT INTO probe_samples/).length).toBeGreaterThanOrEqual(2);
  });
});
