import { ConsoleLogger, Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import { BrokerTimeoutError } from '../broker/management.errors';
import { FakeClock } from '../common/clock/fake-clock';
import { requestContext } from '../common/context/request-context';
import { FakeDataSource } from '../database/testing/fake-data-source';
import { probeVhost } from '../probes/probe-topology';
import type { ApplyHooks, ApplyResult } from './apply';
import type { ObservedState, Plan, PlanOp } from './broker-state';
import type { ClusterBroker } from './cluster-broker';
import { ClusterLock } from './cluster-lock';
import { compileCluster, type CompileResult } from './compile';
import { recordCompletions } from './completions';
import { loadExplanations, unexplainedDeletes } from './delete-guard';
import { diffStates } from './diff';
import { afterConnectingPass } from './link-user-refresh';
import { advanceRotation } from './link-user-rotation';
import { ReconcilerService, type RunOptions } from './reconciler.service';
import { isLinkTarget, loadSnapshot } from './registry-snapshot';

jest.mock('./cluster-lock', () => ({ ClusterLock: { tryAcquire: jest.fn() } }));
jest.mock('./registry-snapshot', () => ({
  loadSnapshot: jest.fn(),
  isLinkTarget: jest.fn(),
  declaredByLinks: jest.fn(async () => ({})),
}));
jest.mock('./compile', () => ({
  ...jest.requireActual<object>('./compile'),
  compileCluster: jest.fn(),
}));
jest.mock('./diff', () => ({ ...jest.requireActual<object>('./diff'), diffStates: jest.fn() }));
jest.mock('./delete-guard', () => ({
  ...jest.requireActual<object>('./delete-guard'),
  loadExplanations: jest.fn(),
  unexplainedDeletes: jest.fn(),
}));
jest.mock('./link-user-rotation', () => ({ advanceRotation: jest.fn() }));
jest.mock('./rotation.repository', () => ({ unfinishedRotation: jest.fn() }));
jest.mock('./link-user-refresh', () => ({ afterConnectingPass: jest.fn() }));
jest.mock('./completions', () => ({ recordCompletions: jest.fn() }));
jest.mock('./known-objects', () => ({ storeKnownNames: jest.fn() }));
jest.mock('./link-cleanup', () => ({
  loadLinkCleanups: jest.fn(async () => []),
  cleanupObjects: jest.fn(() => []),
  settleLinkCleanups: jest.fn(),
}));

const clusterId = 'c1';
const key = (name: string, vhost = '/') => ({ kind: 'federation-upstream' as const, vhost, name });
const createOp = (name: string, vhost = '/'): PlanOp => ({
  op: 'create',
  key: key(name, vhost),
  after: { uri: 'amqp://u:secret@h' },
  owner: 'link:l1',
});
const deleteOp = (name: string): PlanOp => ({
  op: 'delete',
  key: key(name),
  before: {},
  owner: 'link:l1',
});

function cluster(over: Record<string, unknown> = {}) {
  return {
    id: clusterId,
    name: 'east',
    siteId: 's1',
    vhosts: ['/'],
    reconcileSuspended: false,
    deleteBlocked: null,
    brokerVersion: '3.10.8',
    ...over,
  };
}

function desired(over: Partial<CompileResult> = {}): CompileResult {
  return { objects: [], conflicts: [], heldBack: [], warnings: [], ...over } as CompileResult;
}

function applied(plan: Plan, over: Partial<ApplyResult> = {}): ApplyResult {
  return {
    outcomes: plan.ops.map((o) => ({ op: o.op, key: o.key, ok: true, attempts: 1, ms: 1 })),
    counts: { created: plan.ops.length, updated: 0, deleted: 0, failed: 0, skipped: 0 },
    requests: plan.ops.length,
    ms: 3,
    ...over,
  };
}

interface World {
  ds: FakeDataSource;
  svc: ReconcilerService;
  broker: jest.Mocked<ClusterBroker>;
  lock: { stillHeld: jest.Mock; guardWrite: jest.Mock; release: jest.Mock };
  audit: { record: jest.Mock; recordMany: jest.Mock };
  access: jest.Mock;
  env: Record<string, unknown>;
  metrics: { busy: jest.Mock; followUps: jest.Mock; record: jest.Mock };
  writeGuards: (() => Promise<void>)[];
  clock: FakeClock;
}

function world(): World {
  const ds = new FakeDataSource()
    .on(/INSERT INTO reconcile_runs/, [{ id: 'run-1' }])
    .on(/UPDATE reconcile_runs SET status = \$2/, (p: unknown[]) => [
      [
        {
          id: p[0],
          cluster_id: clusterId,
          trigger: 'change',
          instance_id: 'i',
          dry_run: false,
          status: p[1],
          started_at: new Date(0),
          finished_at: new Date(1),
          summary: JSON.parse(p[2] as string) as unknown,
          operations: JSON.parse(p[3] as string) as unknown,
          findings: JSON.parse(p[4] as string) as unknown,
          error: p[5],
        },
      ],
      1,
    ])
    .on(/SELECT clock_timestamp\(\) AS at/, [{ at: new Date(5) }])
    .on(/FROM sites WHERE id/, [{ reconcile_suspended: false, name: 'site/east' }])
    .on(/FROM managed_objects WHERE cluster_id/, [])
    .on(/DELETE FROM reconcile_requests WHERE cluster_id = \$1\s+RETURNING/, [[], 0]);
  const lock = {
    stillHeld: jest.fn(async () => true),
    guardWrite: jest.fn(async () => undefined),
    release: jest.fn(async () => undefined),
  };
  (ClusterLock.tryAcquire as jest.Mock).mockResolvedValue(lock);
  const writeGuards: (() => Promise<void>)[] = [];
  const broker = {
    observeAccess: jest.fn(async () => ({ objects: [], requests: 0 })),
    observe: jest.fn(async (): Promise<ObservedState> => ({
      objects: [],
      requests: 7,
      brokerVersion: '3.10.8',
    })),
    ensureProbeVhost: jest.fn(async () => ({ writes: 0 })),
    apply: jest.fn(async (plan: Plan, hooks: ApplyHooks) => {
      if (plan.ops.length) {
        await hooks.beforeBatch?.(plan.ops);
        await hooks.beforeWrite?.(plan.ops[0]);
        await hooks.afterBatch?.(
          plan.ops.map((op) => ({ op, outcome: { ok: true, attempts: 1, ms: 1 } })),
        );
      }
      return applied(plan);
    }),
    connectionsOf: jest.fn(),
    verifyLogins: jest.fn(),
  } as unknown as jest.Mocked<ClusterBroker>;
  const audit = {
    record: jest.fn(async () => ({ seq: '1', hash: 'h' })),
    recordMany: jest.fn(async (_m: unknown, events: unknown[]) =>
      events.map((_, i) => ({ seq: String(i + 1), hash: 'h' })),
    ),
  };
  const access = jest.fn(async () => ({
    cluster: cluster(),
    nodes: [],
    username: 'admin',
    password: 'pw',
    networks: {},
  }));
  const env = {
    LINK_USER_NAME: 'crossdock-link',
    FEDERATION_QUEUE_MAX_BYTES: 1000,
    RECONCILE_MAX_DELETES: 1,
    RECONCILE_CONCURRENCY: 4,
    BROKER_WRITE_TIMEOUT_MS: 1000,
  };
  const metrics = { busy: jest.fn(), followUps: jest.fn(), record: jest.fn() };
  const clock = new FakeClock();
  const svc = new ReconcilerService(
    ds as never,
    { access } as never,
    {} as never,
    audit as never,
    env as never,
    {} as never,
    { registry: new Registry() } as never,
    { busy: { inc: metrics.busy }, followUps: { inc: metrics.followUps } } as never,
    { record: metrics.record } as never,
    {
      open: (_target: unknown, guard: () => Promise<void>) => {
        writeGuards.push(guard);
        return broker;
      },
    } as never,
    clock,
  );
  (loadSnapshot as jest.Mock).mockResolvedValue({
    cluster: { id: clusterId },
    federationLinks: [],
    clusters: {},
    linkCredentials: {},
  });
  (isLinkTarget as jest.Mock).mockResolvedValue([]);
  (compileCluster as jest.Mock).mockReturnValue(desired());
  (diffStates as jest.Mock).mockReturnValue({ ops: [], findings: [] });
  (loadExplanations as jest.Mock).mockResolvedValue({});
  (unexplainedDeletes as jest.Mock).mockReturnValue([]);
  return { ds, svc, broker, lock, audit, access, env, metrics, writeGuards, clock };
}

const change: RunOptions = { trigger: 'change' };

// The failures these tests provoke are logged by design; the assertions say what matters.
beforeAll(() => Logger.overrideLogger(false));
afterAll(() => Logger.overrideLogger(new ConsoleLogger()));
beforeEach(() => jest.clearAllMocks());

describe('ReconcilerService.reconcile', () => {
  it('an unchanged cluster: observes, plans nothing, succeeds without writes', async () => {
    const w = world();
    const run = await w.svc.reconcile(clusterId, change);
    expect(run.status).toBe('succeeded');
    expect(w.broker.observe).toHaveBeenCalledWith(['/', probeVhost]);
    // No probe objects, nobody links here: no access objects to observe or write.
    expect(w.broker.observeAccess).toHaveBeenCalledWith({ users: [] });
    expect(advanceRotation).toHaveBeenCalled();
    expect(afterConnectingPass).toHaveBeenCalled();
    expect(w.ds.ran(/applied_generation/)).toHaveLength(1);
    expect(w.lock.release).toHaveBeenCalled();
    expect(w.metrics.record).toHaveBeenCalledWith(
      expect.objectContaining({ status: 'succeeded', trigger: 'change' }),
    );
  });

  it('applies a plan with its intents and outcomes audited, and the pass records them', async () => {
    const w = world();
    (diffStates as jest.Mock).mockReturnValue({
      ops: [createOp('crossdock.up.a')],
      findings: [],
      adoptions: [{ kind: 'queue', vhost: probeVhost, name: 'q', owner: 'probe' }],
    });
    (compileCluster as jest.Mock).mockReturnValue(
      desired({ heldBack: [{ owner: 'link:l9', detail: 'x' }] as never }),
    );
    w.clock.advance(0);
    const run = await w.svc.reconcile(clusterId, change);
    expect(run.status).toBe('succeeded');
    expect(run.summary).toMatchObject({ creates: 1, created: 1, applyRequests: 1 });
    expect(JSON.stringify(run.operations)).not.toContain('secret');
    expect(
      w.ds.ran(/INSERT INTO managed_objects \(cluster_id, kind, vhost, name, owner\)/),
    ).toEqual([[clusterId, 'queue', probeVhost, 'q', 'probe']]);
    expect(w.ds.ran(/applied_generation/)[0][2]).toEqual(['l9']);
    const actions = w.audit.recordMany.mock.calls.flatMap(([, evs]) =>
      (evs as { action: string }[]).map((e) => e.action),
    );
    expect(actions).toEqual(['reconcile.create.intent', 'reconcile.create.succeeded']);
    // Every write of the pass passes the lock's lease check first.
    await w.writeGuards[0]();
    expect(w.lock.guardWrite).toHaveBeenCalled();
  });

  it('plans the probe vhost and its permission first when probe objects are wanted, and shows them in a dry run', async () => {
    const w = world();
    (compileCluster as jest.Mock).mockReturnValue(
      desired({
        objects: [{ ...key('crossdock.up.p', probeVhost), value: {}, owner: 'probe' }],
      }),
    );
    (diffStates as jest.Mock).mockReturnValue({
      ops: [createOp('crossdock.up.p', probeVhost)],
      findings: [],
    });
    const dry = await w.svc.reconcile(clusterId, { trigger: 'dry-run', dryRun: true });
    expect(dry.status).toBe('planned');
    expect(w.broker.observeAccess).toHaveBeenCalledWith({ probeAdmin: 'admin', users: [] });
    expect((dry.operations as PlanOp[]).map((o) => [o.op, o.key.kind, o.key.vhost])).toEqual([
      ['create', 'vhost', probeVhost],
      ['create', 'permission', probeVhost],
      ['create', 'federation-upstream', probeVhost],
    ]);
    expect(w.broker.apply).not.toHaveBeenCalled();

    const run = await w.svc.reconcile(clusterId, change);
    expect(run.status).toBe('succeeded');
    const [plan] = w.broker.apply.mock.calls[0];
    expect(plan.ops.map((o) => o.key.kind)).toEqual(['vhost', 'permission', 'federation-upstream']);
    expect(plan.ops[1]).toMatchObject({
      key: { kind: 'permission', vhost: probeVhost, name: 'admin' },
      after: { configure: '.*', write: '.*', read: '.*' },
    });
    // Access objects are crossdock's own by name: no ledger rows.
    expect(
      (w.ds.ran(
        /INSERT INTO managed_objects \(cluster_id, kind, vhost, name, owner, confirmed\)/,
      )[0] ?? [])[1],
    ).toEqual(['federation-upstream']);

    // Already there: nothing to write.
    w.broker.observeAccess.mockResolvedValue({
      objects: [
        { kind: 'vhost', vhost: probeVhost, name: probeVhost, value: {} },
        {
          kind: 'permission',
          vhost: probeVhost,
          name: 'admin',
          value: { configure: '.*', write: '.*', read: '.*' },
        },
      ],
      requests: 2,
    });
    const again = await w.svc.reconcile(clusterId, { trigger: 'dry-run', dryRun: true });
    expect((again.operations as PlanOp[]).map((o) => o.key.kind)).toEqual(['federation-upstream']);
  });

  it('access objects that cannot be read fail the run like an observation, nothing written', async () => {
    const w = world();
    w.broker.observeAccess.mockRejectedValueOnce(
      new BrokerTimeoutError('GET', '/api/vhosts/crossdock.probe', [], 1000),
    );
    const run = await w.svc.reconcile(clusterId, { trigger: 'dry-run', dryRun: true });
    expect(run.status).toBe('failed');
    expect(run.summary).toMatchObject({ observeError: { kind: 'timeout' } });
    expect(w.broker.apply).not.toHaveBeenCalled();
  });

  it('a failed rotation step fails the pass after the plan applied', async () => {
    const w = world();
    (advanceRotation as jest.Mock).mockRejectedValueOnce(
      new Error('lock was lost before the link user delete'),
    );
    const run = await w.svc.reconcile(clusterId, change);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/link-user rotation: lock was lost/);
  });

  it('a failed or stopped apply fails the run and settles nothing', async () => {
    const w = world();
    const plan = { ops: [createOp('crossdock.up.a')], findings: [] };
    (diffStates as jest.Mock).mockReturnValue(plan);
    w.broker.apply.mockResolvedValueOnce(
      applied(plan, {
        counts: { created: 0, updated: 0, deleted: 0, failed: 1, skipped: 0 },
        stopped: 'stage failed',
      }),
    );
    const run = await w.svc.reconcile(clusterId, change);
    expect(run.status).toBe('failed');
    expect(run.error).toBe('stage failed');
    expect(w.ds.ran(/applied_generation/)).toHaveLength(0);
    expect(afterConnectingPass).not.toHaveBeenCalled();
  });

  it('records outcomes for ops of a recorded batch the run stopped before sending', async () => {
    const w = world();
    const plan = { ops: [createOp('a'), createOp('b')], findings: [] };
    (diffStates as jest.Mock).mockReturnValue(plan);
    w.broker.apply.mockImplementationOnce(async (p: Plan, hooks: ApplyHooks) => {
      await hooks.beforeBatch?.(p.ops);
      const r = applied(p, { stopped: 'the cluster lock was lost' });
      r.outcomes[1] = { ...r.outcomes[1], ok: false, skipped: true };
      return r;
    });
    const run = await w.svc.reconcile(clusterId, change);
    expect(run.status).toBe('failed');
    const actions = w.audit.recordMany.mock.calls.flatMap(([, evs]) =>
      (evs as { action: string }[]).map((e) => e.action),
    );
    expect(actions).toContain('reconcile.create.failed');
  });

  it('an unsent-outcome record that fails is only logged', async () => {
    const w = world();
    const plan = { ops: [createOp('a')], findings: [] };
    (diffStates as jest.Mock).mockReturnValue(plan);
    w.broker.apply.mockImplementationOnce(async (p: Plan, hooks: ApplyHooks) => {
      await hooks.beforeBatch?.(p.ops);
      w.audit.recordMany.mockRejectedValueOnce(new Error('db down'));
      const r = applied(p, { stopped: 'stopped' });
      r.outcomes[0] = { ...r.outcomes[0], ok: false, skipped: true };
      return r;
    });
    expect((await w.svc.reconcile(clusterId, change)).status).toBe('failed');
  });

  it('the apply hooks stop when the lock is lost', async () => {
    const w = world();
    (diffStates as jest.Mock).mockReturnValue({ ops: [createOp('a')], findings: [] });
    w.lock.stillHeld.mockResolvedValue(false);
    const batch = await w.svc.reconcile(clusterId, change);
    expect(batch.status).toBe('failed');
    expect(batch.error).toMatch(/lock was lost/);

    w.broker.apply.mockImplementationOnce(async (p: Plan, hooks: ApplyHooks) => {
      await hooks.beforeWrite?.(p.ops[0]);
      return applied(p);
    });
    const write = await w.svc.reconcile(clusterId, change);
    expect(write.error).toMatch(/lock was lost/);
  });

  it('an apply that throws something other than an Error fails the run', async () => {
    const w = world();
    w.broker.apply.mockRejectedValueOnce('boom');
    const run = await w.svc.reconcile(clusterId, change);
    expect(run.status).toBe('failed');
    expect(run.error).toBe('apply failed');
  });

  it('a dry run plans, records completions only for real passes, and takes no request', async () => {
    const w = world();
    (diffStates as jest.Mock).mockReturnValue({
      ops: [createOp('a')],
      findings: [],
      completions: [{ shovel: 'x' }],
    });
    const run = await w.svc.reconcile(clusterId, { trigger: 'dry-run', dryRun: true });
    expect(run.status).toBe('planned');
    expect(w.broker.apply).not.toHaveBeenCalled();
    expect(recordCompletions).not.toHaveBeenCalled();
    expect(w.ds.ran(/clock_timestamp/)).toHaveLength(0);
    await w.svc.reconcile(clusterId, change);
    expect(recordCompletions).toHaveBeenCalled();
  });

  it('a cluster that cannot be read fails the run', async () => {
    const w = world();
    w.access.mockRejectedValueOnce(new Error('no such cluster'));
    expect((await w.svc.reconcile(clusterId, change)).error).toBe('no such cluster');
    w.access.mockRejectedValueOnce('odd');
    expect((await w.svc.reconcile(clusterId, change)).error).toBe('cluster not readable');
  });

  it('a suspended cluster or site is not reconciled (a dry run still plans)', async () => {
    const w = world();
    w.access.mockResolvedValueOnce({
      cluster: cluster({ reconcileSuspended: true }),
      nodes: [],
      username: 'a',
      password: 'p',
      networks: {},
    });
    const c = await w.svc.reconcile(clusterId, change);
    expect(c.status).toBe('suspended');
    expect(c.error).toMatch(/this cluster/);
    w.ds.on(/FROM sites WHERE id/, [{ reconcile_suspended: true, name: 's/east' }]);
    const s = await w.svc.reconcile(clusterId, change);
    expect(s.error).toMatch(/this site/);
    expect((await w.svc.reconcile(clusterId, { trigger: 'dry-run', dryRun: true })).status).toBe(
      'planned',
    );
  });

  it('an observation that fails writes nothing and says why', async () => {
    const w = world();
    w.broker.observe.mockRejectedValueOnce(
      new BrokerTimeoutError('GET', '/api/overview', [], 1000),
    );
    const typed = await w.svc.reconcile(clusterId, change);
    expect(typed.status).toBe('failed');
    expect(typed.summary).toMatchObject({ observeError: { kind: 'timeout' } });
    w.broker.observe.mockRejectedValueOnce(new Error('bug'));
    const internal = await w.svc.reconcile(clusterId, change);
    expect(internal.error).toMatch(/\(internal\): bug/);
    w.broker.observe.mockRejectedValueOnce(42);
    expect((await w.svc.reconcile(clusterId, change)).error).toMatch(/unknown error/);
    expect(advanceRotation).not.toHaveBeenCalled();
  });

  it('stores the broker version the pass saw when it changed', async () => {
    const w = world();
    w.broker.observe.mockResolvedValueOnce({ objects: [], requests: 7, brokerVersion: '3.11.0' });
    await w.svc.reconcile(clusterId, change);
    expect(w.ds.ran(/SET broker_version/)).toEqual([[clusterId, '3.11.0']]);
    w.broker.observe.mockResolvedValueOnce({ objects: [], requests: 7 });
    await w.svc.reconcile(clusterId, change);
    expect(w.ds.ran(/SET broker_version/)[1]).toEqual([clusterId, null]);
  });

  it('the ledger: engine-owned objects leave the comparison, stale rows go, seen rows confirm', async () => {
    const w = world();
    w.ds.on(/FROM managed_objects WHERE cluster_id/, [
      { kind: 'shovel', vhost: '/', name: 'spill', owner: 'overflow:r1', confirmed: true },
      { kind: 'federation-upstream', vhost: '/', name: 'gone', owner: 'link:l1', confirmed: false },
      { kind: 'federation-upstream', vhost: '/', name: 'seen', owner: 'link:l1', confirmed: false },
    ]);
    w.broker.observe.mockResolvedValueOnce({
      objects: [
        { kind: 'shovel', vhost: '/', name: 'spill', value: {} },
        { kind: 'federation-upstream', vhost: '/', name: 'seen', value: {} },
      ],
      requests: 7,
      brokerVersion: '3.10.8',
    } as unknown as ObservedState);
    const run = await w.svc.reconcile(clusterId, change);
    expect(w.ds.ran(/DELETE FROM managed_objects/)).toEqual([
      [clusterId, 'federation-upstream', '/', 'gone'],
    ]);
    expect(w.ds.ran(/SET confirmed = true/)).toEqual([
      [clusterId, 'federation-upstream', '/', 'seen'],
    ]);
    // The spill shovel is listed as the overflow engine's, not planned.
    expect(run.findings).toEqual([
      expect.objectContaining({
        kind: 'engine-held',
        key: { kind: 'shovel', vhost: '/', name: 'spill' },
        detail: expect.stringMatching(/overflow rule r1 \(on the broker\)/),
      }),
      expect.objectContaining({ kind: 'stale-ledger' }),
    ]);
    const [, observed, ledger] = (diffStates as jest.Mock).mock.calls[0] as [
      unknown,
      ObservedState,
      { name: string }[],
    ];
    expect(observed.objects.map((o) => o.name)).toEqual(['seen']);
    expect(ledger.map((e) => e.name)).toEqual(['seen']);
  });

  describe('the mass-delete guard', () => {
    const ledger = [
      { kind: 'federation-upstream', vhost: '/', name: 'a', owner: 'link:l1', confirmed: true },
      { kind: 'federation-upstream', vhost: '/', name: 'b', owner: 'link:l1', confirmed: true },
    ];
    const observedAB = {
      objects: [
        { kind: 'federation-upstream', vhost: '/', name: 'a', value: {} },
        { kind: 'federation-upstream', vhost: '/', name: 'b', value: {} },
      ],
      requests: 7,
    } as unknown as ObservedState;

    it('blocks unexplained deletes above the limit, records the block once, and audits it', async () => {
      const w = world();
      w.ds.on(/FROM managed_objects WHERE cluster_id/, ledger);
      w.broker.observe.mockResolvedValue(observedAB);
      const ops = [deleteOp('a'), deleteOp('b')];
      (diffStates as jest.Mock).mockReturnValue({ ops, findings: [] });
      (compileCluster as jest.Mock).mockReturnValue(
        desired({ objects: [{ kind: 'policy', vhost: '/', name: 'p', value: {} }] as never }),
      );
      (unexplainedDeletes as jest.Mock).mockReturnValue(ops);
      const run = await w.svc.reconcile(clusterId, change);
      expect(run.status).toBe('blocked');
      expect(run.error).toMatch(/would delete 2 managed object/);
      expect(run.error).not.toMatch(/every managed object/);
      expect(w.ds.ran(/SET delete_blocked = \$2/)).toHaveLength(1);
      expect(w.audit.record).toHaveBeenCalledWith(
        expect.anything(),
        expect.objectContaining({ action: 'reconcile.delete-blocked' }),
      );
      expect(w.broker.apply).not.toHaveBeenCalled();

      // The same block again (the drift schedule repeats it): not audited twice.
      const since = (
        JSON.parse(w.ds.ran(/SET delete_blocked = \$2/)[0][1] as string) as {
          since: string;
        }
      ).since;
      w.access.mockResolvedValueOnce({
        cluster: cluster({ deleteBlocked: { since } }),
        nodes: [],
        username: 'a',
        password: 'p',
        networks: {},
      });
      w.audit.record.mockClear();
      await w.svc.reconcile(clusterId, change);
      expect(w.audit.record).not.toHaveBeenCalled();
    });

    it('a dry run reports the block without recording it; a wipe of everything is named', async () => {
      const w = world();
      w.ds.on(/FROM managed_objects WHERE cluster_id/, ledger);
      w.broker.observe.mockResolvedValue(observedAB);
      const ops = [deleteOp('a'), deleteOp('b')];
      (diffStates as jest.Mock).mockReturnValue({ ops, findings: [] });
      (unexplainedDeletes as jest.Mock).mockReturnValue([ops[0]]);
      const run = await w.svc.reconcile(clusterId, { trigger: 'dry-run', dryRun: true });
      expect(run.status).toBe('blocked');
      expect(run.error).toMatch(/every managed object of this cluster/);
      expect(w.ds.ran(/SET delete_blocked/)).toHaveLength(0);
    });

    it('confirmDeletes lets the pass through and clears an earlier block', async () => {
      const w = world();
      w.ds.on(/FROM managed_objects WHERE cluster_id/, ledger);
      w.broker.observe.mockResolvedValue(observedAB);
      const ops = [deleteOp('a'), deleteOp('b')];
      (diffStates as jest.Mock).mockReturnValue({ ops, findings: [] });
      (unexplainedDeletes as jest.Mock).mockReturnValue(ops);
      w.access.mockResolvedValueOnce({
        cluster: cluster({ deleteBlocked: { since: 'x' } }),
        nodes: [],
        username: 'a',
        password: 'p',
        networks: {},
      });
      const run = await requestContext.run(
        { requestId: 'r1', actor: { kind: 'token', id: 't1' } } as never,
        () => w.svc.reconcile(clusterId, { trigger: 'manual', confirmDeletes: true }),
      );
      expect(run.status).toBe('succeeded');
      expect(w.ds.ran(/SET delete_blocked = NULL/)).toHaveLength(1);
      expect(w.audit.record).toHaveBeenCalledWith(
        expect.anything(),
        expect.objectContaining({
          action: 'reconcile.delete-block.cleared',
          actor: { kind: 'token', id: 't1' },
        }),
      );
    });

    it('explained deletes pass without the guard', async () => {
      const w = world();
      w.ds.on(/FROM managed_objects WHERE cluster_id/, ledger);
      w.broker.observe.mockResolvedValue(observedAB);
      (diffStates as jest.Mock).mockReturnValue({ ops: [deleteOp('a')], findings: [] });
      expect((await w.svc.reconcile(clusterId, change)).status).toBe('succeeded');
    });
  });

  describe('busy clusters and follow-up requests', () => {
    it('a pass already running here, or a lock held elsewhere, answers busy', async () => {
      const w = world();
      let release!: () => void;
      w.broker.observe.mockImplementationOnce(
        () =>
          new Promise((r) => {
            release = () => r({ objects: [], requests: 7 });
          }),
      );
      const first = w.svc.reconcile(clusterId, change);
      await new Promise((r) => setImmediate(r));
      const second = await w.svc.reconcile(clusterId, change);
      expect(second).toMatchObject({ status: 'busy', id: null });
      expect(w.metrics.busy).toHaveBeenCalledWith({ trigger: 'change', holder: 'this-instance' });
      release();
      expect((await first).status).toBe('succeeded');

      (ClusterLock.tryAcquire as jest.Mock).mockResolvedValueOnce(null);
      const elsewhere = await w.svc.reconcile(clusterId, change);
      expect(elsewhere.error).toBe('another instance holds this cluster');
    });

    it('records requests, and after a pass hands a due one to the triggers', async () => {
      const w = world();
      await w.svc.requestFollowUp(clusterId, -5);
      expect(w.ds.ran(/INSERT INTO reconcile_requests/)).toEqual([[clusterId, 0]]);

      // No follow-up handler: the request is left for an instance that reconciles.
      await w.svc.reconcile(clusterId, change);
      expect(w.ds.ran(/RETURNING \(\$2::timestamptz IS NULL/)).toHaveLength(0);

      const followUps: string[] = [];
      w.svc.onFollowUp = (id) => followUps.push(id);
      await w.svc.reconcile(clusterId, change);
      expect(followUps).toEqual([]);
      w.ds.on(/RETURNING \(\$2::timestamptz IS NULL/, [[{ due: true }], 1]);
      await w.svc.reconcile(clusterId, { trigger: 'dry-run', dryRun: true });
      expect(w.ds.ran(/RETURNING \(\$2::timestamptz IS NULL/).at(-1)).toEqual([clusterId, null]);
      expect(followUps).toEqual([clusterId]);
      expect(w.metrics.followUps).toHaveBeenCalled();

      w.ds.on(/RETURNING \(\$2::timestamptz IS NULL/, () => {
        throw new Error('db away');
      });
      await expect(w.svc.reconcile(clusterId, change)).resolves.toMatchObject({
        status: 'succeeded',
      });
    });
  });
});
