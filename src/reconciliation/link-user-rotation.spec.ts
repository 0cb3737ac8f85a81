import {
  activeLinkCredential,
  readSlotSecret,
  writeSlotSecret,
} from '../clusters/link-user-credentials';
import { notifyClustersChanged } from '../common/changes';
import { FakeDataSource } from '../database/testing/fake-data-source';
import type { ApplyHooks } from './apply';
import { compileAccess, loadAccessWant } from './access-plan';
import type { Plan } from './broker-state';
import type { ClusterBroker } from './cluster-broker';
import { advanceRotation, staleObjectNames, type RotationRow } from './link-user-rotation';
import { declaredByLinks, isLinkTarget } from './registry-snapshot';
import { interimValue } from './link-user-refresh';

jest.mock('../clusters/link-user-credentials', () => ({
  activeLinkCredential: jest.fn(),
  readSlotSecret: jest.fn(),
  writeSlotSecret: jest.fn(),
}));
jest.mock('../common/changes', () => ({ notifyClustersChanged: jest.fn() }));
jest.mock('./registry-snapshot', () => ({ isLinkTarget: jest.fn(), declaredByLinks: jest.fn() }));

const cluster = {
  id: 'c1',
  name: 'east',
  siteId: 's1',
  brokerClusterName: 'rabbit@east',
  linkEndpoints: [{ host: 'east.example', port: 5672 }],
  tls: null,
} as never;

function rotation(over: Partial<RotationRow> = {}): RotationRow {
  return {
    id: 'r1',
    cluster_id: 'c1',
    from_slot: 'a',
    to_slot: 'b',
    from_username: 'crossdock-link',
    to_username: 'crossdock-link-b',
    status: 'verifying',
    attempts: 0,
    last_error: null,
    applied_by: [],
    refresh_requested: [],
    ...over,
  };
}

function world(
  opts: {
    vhosts?: string[];
    rotation?: RotationRow;
    connecting?: string[];
    declares?: Record<string, string[]>;
  } = {},
) {
  const ds = new FakeDataSource()
    .on(/FROM link_user_rotations WHERE cluster_id = \$1 AND status <> 'completed'/, () =>
      opts.rotation ? [opts.rotation] : [],
    )
    .on(/SELECT downstream_cluster_id AS id FROM federation_links/, () =>
      (opts.connecting ?? []).map((id) => ({ id })),
    )
    .on(/SELECT load_balancer_host AS host/, [{ host: null, port: null }])
    .on(/SET refresh_requested = \$2/, [[{ id: 'r1' }], 1]);
  const broker = {
    apply: jest.fn(async (plan: Plan, hooks: ApplyHooks) => {
      await hooks.beforeBatch?.(plan.ops);
      const outcome = { ok: true, attempts: 1, ms: 1 };
      await hooks.afterBatch?.(plan.ops.map((op) => ({ op, outcome })));
      return {
        outcomes: plan.ops.map((op) => ({ op: op.op, key: op.key, ...outcome })),
        counts: { created: 0, updated: 0, deleted: plan.ops.length, failed: 0, skipped: 0 },
        requests: plan.ops.length,
        ms: 1,
      };
    }),
    connectionsOf: jest.fn(async () => []),
    verifyLogins: jest.fn(async () => undefined),
  } as unknown as jest.Mocked<ClusterBroker>;
  const lock = { stillHeld: jest.fn(async () => true) };
  const audit = {
    recordStandalone: jest.fn(async () => ({ seq: '1', hash: 'h' })),
    record: jest.fn(async () => ({ seq: '1', hash: 'h' })),
    recordMany: jest.fn(async (_m: unknown, events: unknown[]) =>
      events.map((_, i) => ({ seq: String(i + 1), hash: 'h' })),
    ),
  };
  (isLinkTarget as jest.Mock).mockResolvedValue(opts.vhosts ?? []);
  (declaredByLinks as jest.Mock).mockResolvedValue(opts.declares ?? {});
  (activeLinkCredential as jest.Mock).mockResolvedValue({
    slot: 'a',
    username: 'crossdock-link',
    password: 'pa',
    salt: 'aaaa',
  });
  (readSlotSecret as jest.Mock).mockImplementation(
    async (_m: unknown, _box: unknown, _id: string, slot: string) =>
      slot === 'b' ? { password: 'pb', salt: 'bbbb' } : { password: 'pa', salt: 'aaaa' },
  );
  const run = (written: string[] = []) =>
    advanceRotation(
      {
        ds: ds as never,
        box: {} as never,
        audit: audit as never,
        logger: { warn: jest.fn() },
        concurrency: 1,
        writeTimeoutMs: 1000,
        runId: 'run1',
      },
      cluster,
      broker,
      lock,
      new Set(written),
    );
  /** The link users (and their permissions) the pass's plan keeps in place. */
  const users = async () => {
    const want = await loadAccessWant(
      { ds: ds as never, box: {} as never, baseUsername: 'crossdock-link' },
      cluster,
      'admin',
      false,
    );
    return compileAccess('c1', want).filter((o) => o.kind === 'user' || o.kind === 'permission');
  };
  const usernames = async () => (await users()).filter((o) => o.kind === 'user').map((o) => o.name);
  return { ds, broker, lock, audit, run, users, usernames };
}

const actions = (audit: { record: jest.Mock; recordStandalone: jest.Mock }) =>
  [...audit.recordStandalone.mock.calls, ...audit.record.mock.calls.map((c) => [c[1]])].map(
    (c) => (c[0] as { action: string }).action,
  );

beforeEach(() => jest.clearAllMocks());

describe('link users in the plan (loadAccessWant + compileAccess)', () => {
  it('a cluster nobody links to, without a rotation: no link user', async () => {
    const w = world();
    expect(await w.users()).toEqual([]);
    expect(activeLinkCredential).not.toHaveBeenCalled();
  });

  it('keeps the active user with its password and permissions, once per vhost', async () => {
    const w = world({ vhosts: ['/', '/'] });
    const objects = await w.users();
    expect(objects.map((o) => [o.kind, o.vhost, o.name])).toEqual([
      ['user', '', 'crossdock-link'],
      ['permission', '/', 'crossdock-link'],
    ]);
    expect(objects[0].value).toMatchObject({
      password_hash: expect.any(String),
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: '',
    });
  });

  it('gives the link user configure on the queues shovels declare as it', async () => {
    const w = world({ vhosts: ['/'], declares: { '/': ['landing'] } });
    const perm = (await w.users()).find((o) => o.kind === 'permission');
    expect(perm?.value).toMatchObject({ configure: expect.stringContaining('landing') });
  });

  it("verifying: the new slot's user too; switching: the previous one stays", async () => {
    expect(await world({ vhosts: ['/'], rotation: rotation() }).usernames()).toEqual([
      'crossdock-link',
      'crossdock-link-b',
    ]);
    const switching = rotation({
      status: 'switching',
      from_slot: 'b',
      to_slot: 'a',
      from_username: 'crossdock-link-b',
      to_username: 'crossdock-link',
    });
    expect(await world({ vhosts: ['/'], rotation: switching }).usernames()).toEqual([
      'crossdock-link',
      'crossdock-link-b',
    ]);
    // No link targets: no users, whatever the rotation.
    expect(await world({ rotation: rotation() }).usernames()).toEqual([]);
  });
});

describe('advanceRotation (link-user rotation)', () => {
  it('without a rotation: nothing to do', async () => {
    const w = world({ vhosts: ['/'] });
    await w.run();
    expect(w.broker.verifyLogins).not.toHaveBeenCalled();
    expect(w.broker.apply).not.toHaveBeenCalled();
  });

  describe('verifying', () => {
    it('proves the new user (written by the plan) with logins on every URI, then switches', async () => {
      const w = world({ vhosts: ['/'], rotation: rotation(), connecting: ['c3', 'c2'] });
      await w.run(['crossdock-link-b']);
      expect(w.broker.apply).not.toHaveBeenCalled();
      const [uris] = w.broker.verifyLogins.mock.calls[0];
      expect(uris).toEqual([expect.stringContaining('east.example')]);
      expect(w.ds.ran(/SET link_user_slot/)).toEqual([['c1', 'b']]);
      expect(w.ds.ran(/SET status = 'switching'/)).toEqual([['r1']]);
      expect(actions(w.audit)).toEqual([
        'cluster.link-user.write',
        'cluster.link-user.rotation.switch',
      ]);
      expect(notifyClustersChanged).toHaveBeenCalledWith(expect.anything(), ['c2', 'c3']);
    });

    it('a new user the plan did not write (unchanged) is not audited as a write', async () => {
      const w = world({ vhosts: ['/'], rotation: rotation() });
      await w.run();
      expect(actions(w.audit)).toEqual(['cluster.link-user.rotation.switch']);
    });

    it('with no link targets, switches without a login to prove', async () => {
      const w = world({ rotation: rotation() });
      await w.run();
      expect(w.broker.verifyLogins).not.toHaveBeenCalled();
      expect(w.ds.ran(/SET status = 'switching'/)).toHaveLength(1);
    });

    it('a failed login leaves everything as it was, counts the attempt, audits a new error once', async () => {
      const w = world({ vhosts: ['/'], rotation: rotation() });
      w.broker.verifyLogins.mockRejectedValue(new Error('AMQP login to amqp://east failed'));
      await w.run();
      expect(w.ds.ran(/SET attempts = attempts \+ 1, last_error = \$2/)).toEqual([
        ['r1', 'AMQP login to amqp://east failed'],
      ]);
      expect(w.ds.ran(/SET link_user_slot/)).toHaveLength(0);
      expect(actions(w.audit)).toEqual(['cluster.link-user.rotation.verify-failed']);

      const again = world({
        vhosts: ['/'],
        rotation: rotation({ last_error: 'not a string error' }),
      });
      again.broker.verifyLogins.mockRejectedValue('not a string error');
      await again.run();
      expect(actions(again.audit)).toEqual([]);
    });

    it('a rotation without a secret in its new slot is an error', async () => {
      const w = world({ vhosts: ['/'], rotation: rotation() });
      (readSlotSecret as jest.Mock).mockResolvedValue(undefined);
      await expect(w.run()).rejects.toThrow(/has no credential in its new slot/);
    });
  });

  describe('switching', () => {
    const switching = (over: Partial<RotationRow> = {}) =>
      rotation({ status: 'switching', applied_by: ['c2'], ...over });

    it('keeps the previous user while connecting clusters have not applied the new URIs', async () => {
      const w = world({ vhosts: ['/'], rotation: switching(), connecting: ['c2', 'c3'] });
      await w.run();
      expect(w.broker.connectionsOf).not.toHaveBeenCalled();
      expect(w.broker.apply).not.toHaveBeenCalled();
    });

    it('waits for connections still logging in with the previous user, asking for refreshes', async () => {
      const w = world({ vhosts: ['/'], rotation: switching(), connecting: ['c2'] });
      w.broker.connectionsOf.mockResolvedValue([
        {
          name: 'c',
          user_provided_name: 'Federation link (upstream: crossdock.up.orders, policy: p)',
        },
      ]);
      await w.run();
      expect(w.ds.ran(/SET last_error = \$2, updated_at/)[0][1]).toMatch(
        /1 connection\(s\) still log in as crossdock-link: Federation link/,
      );
      expect(w.ds.ran(/SET refresh_requested = \$2/)).toEqual([['r1', ['crossdock.up.orders']]]);
      expect(actions(w.audit)).toEqual(['cluster.link-user.rotation.refresh-requested']);
      expect(notifyClustersChanged).toHaveBeenCalledWith(expect.anything(), ['c2']);
      expect(w.broker.apply).not.toHaveBeenCalled();
    });

    it('asks once per set of objects; connections it cannot name only wait', async () => {
      const w = world({ rotation: switching(), connecting: ['c2'] });
      w.ds.on(/SET refresh_requested = \$2/, [[], 0]);
      w.broker.connectionsOf.mockResolvedValue([
        { name: 'x', user_provided_name: 'Shovel crossdock.sh.a' },
      ]);
      await w.run();
      expect(actions(w.audit)).toEqual([]);

      const unnamed = world({ rotation: switching(), connecting: ['c2'] });
      unnamed.broker.connectionsOf.mockResolvedValue([{ name: '10.0.0.1:1 -> 10.0.0.2:5672' }]);
      await unnamed.run();
      expect(unnamed.ds.ran(/SET refresh_requested/)).toHaveLength(0);
      expect(unnamed.ds.ran(/SET last_error = \$2, updated_at/)[0][1]).toMatch(/10\.0\.0\.1/);
    });

    it('once nobody uses it, deletes the previous user (a targeted plan op) and completes', async () => {
      const w = world({ rotation: switching(), connecting: ['c2'] });
      await w.run();
      const [plan] = w.broker.apply.mock.calls[0];
      expect(plan.ops).toEqual([
        {
          op: 'delete',
          key: { kind: 'user', vhost: '', name: 'crossdock-link' },
          before: {},
          owner: 'cluster:c1',
        },
      ]);
      expect(writeSlotSecret).toHaveBeenCalledWith(expect.anything(), {}, 'c1', 'a', null);
      expect(w.ds.ran(/SET status = 'completed'/)).toEqual([['r1']]);
      expect(actions(w.audit)).toEqual(['cluster.link-user.rotation.complete']);
      const events = w.audit.recordMany.mock.calls.flatMap((c) => c[1] as { action: string }[]);
      expect(events.map((e) => e.action)).toEqual([
        'cluster.link-user.delete.intent',
        'cluster.link-user.delete.succeeded',
      ]);
      expect(events[0]).toMatchObject({
        resourceType: 'cluster',
        resourceId: 'c1',
        details: { rotationId: 'r1', username: 'crossdock-link', runId: 'run1' },
      });
      // A user is no ledger row.
      expect(w.ds.ran(/managed_objects/)).toEqual([]);
    });

    it('a failed delete fails the step and leaves the rotation switching', async () => {
      const w = world({ rotation: switching(), connecting: ['c2'] });
      w.broker.apply.mockResolvedValueOnce({
        outcomes: [
          {
            op: 'delete',
            key: { kind: 'user', vhost: '', name: 'crossdock-link' },
            ok: false,
            error: 'boom',
            attempts: 3,
            ms: 1,
          },
        ],
        counts: { created: 0, updated: 0, deleted: 0, failed: 1, skipped: 0 },
        requests: 3,
        ms: 1,
      });
      await expect(w.run()).rejects.toThrow(/previous link user was not deleted: boom/);
      expect(w.ds.ran(/SET status = 'completed'/)).toEqual([]);
    });

    it('does not delete once the lock is lost', async () => {
      const w = world({ rotation: switching(), connecting: ['c2'] });
      w.lock.stillHeld.mockResolvedValue(false);
      await expect(w.run()).rejects.toThrow(/lock was lost before the link user delete/);
      expect(w.broker.apply).not.toHaveBeenCalled();
    });
  });
});

describe('staleObjectNames', () => {
  it('names the crossdock upstreams and shovels behind connections, once each', () => {
    expect(
      staleObjectNames([
        {
          name: '10.0.0.1:5000 -> 10.0.0.2:5672',
          user_provided_name:
            'Federation link (upstream: crossdock.up.orders, policy: crossdock.p.x.1)',
        },
        {
          name: '10.0.0.1:5001 -> 10.0.0.2:5672',
          user_provided_name:
            'Federation link (upstream: crossdock.up.orders, policy: crossdock.p.x.2)',
        },
        { name: 'c3', user_provided_name: 'Shovel crossdock.sh.overflow-eu' },
        { name: 'c4', user_provided_name: 'Federation link (upstream: hand-made, policy: p)' },
        { name: 'c5' },
      ]),
    ).toEqual(['crossdock.sh.overflow-eu', 'crossdock.up.orders']);
  });
});

describe('interimValue (a harmless real change that makes the broker restart the link)', () => {
  it('moves the prefetch by one and keeps everything else', () => {
    expect(
      interimValue({
        kind: 'federation-upstream',
        value: { uri: ['amqp://h'], 'prefetch-count': 1000, 'ack-mode': 'on-confirm' },
      }),
    ).toEqual({ uri: ['amqp://h'], 'prefetch-count': 999, 'ack-mode': 'on-confirm' });
    expect(
      interimValue({
        kind: 'federation-upstream',
        value: { uri: 'amqp://h', 'prefetch-count': 1 },
      }),
    ).toMatchObject({ 'prefetch-count': 2 });
    expect(
      interimValue({ kind: 'shovel', value: { 'src-uri': ['amqp://'], 'src-prefetch-count': 10 } }),
    ).toMatchObject({ 'src-prefetch-count': 9 });
  });
});
