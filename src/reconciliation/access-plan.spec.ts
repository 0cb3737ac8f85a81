import { BrokerNotFoundError } from '../broker/management.errors';
import { managementPaths } from '../broker-topology/broker-paths';
import { rabbitPasswordHash } from '../broker-topology/user.codec';
import { probeVhost } from '../probes/probe-topology';
import { compileAccess, diffAccess, observeAccess, type AccessWant } from './access-plan';
import type { ObservedObject, PlanOp } from './broker-state';
import { redactPlan } from './diff';

const hash = rabbitPasswordHash('s3cret-password', 'a1b2c3d4');
const want: AccessWant = {
  probeAdmin: 'admin',
  users: [
    {
      username: 'crossdock-link',
      passwordHash: hash,
      vhosts: ['/', probeVhost],
      declares: { '/': ['landing'] },
    },
  ],
};

/** A broker that stores what the plan writes, answering reads the way the management API does. */
function fakeBroker() {
  const store = new Map<string, unknown>();
  const get = jest.fn(async (path: string): Promise<unknown> => {
    const perms = /^\/api\/users\/([^/]+)\/permissions$/.exec(path);
    if (perms) {
      const user = decodeURIComponent(perms[1]);
      return [...store.entries()]
        .filter(([p]) => p.startsWith('/api/permissions/') && p.endsWith(`/${perms[1]}`))
        .map(([p, v]) => ({
          user,
          vhost: decodeURIComponent(p.split('/')[3]),
          ...(v as object),
        }));
    }
    if (!store.has(path)) throw new BrokerNotFoundError('GET', path, 'n1', []);
    const v = store.get(path) as Record<string, unknown>;
    // 3.10 lists tags as a list and adds what crossdock never writes.
    return path.startsWith('/api/users/')
      ? { ...v, name: 'x', tags: [], limits: {} }
      : { ...v, name: 'x' };
  });
  const write = (op: PlanOp) => {
    const path =
      op.key.kind === 'vhost'
        ? managementPaths.vhost(op.key.name)
        : op.key.kind === 'user'
          ? managementPaths.user(op.key.name)
          : managementPaths.permissions(op.key.vhost, op.key.name);
    if (op.op !== 'delete') store.set(path, op.after);
  };
  return { get, write, store };
}

describe('access objects in the plan', () => {
  it('compiles the probe vhost, the admin permission there, the link user and its permissions', () => {
    const objects = compileAccess('c1', want);
    expect(objects.map((o) => [o.kind, o.vhost, o.name])).toEqual([
      ['vhost', probeVhost, probeVhost],
      ['permission', probeVhost, 'admin'],
      ['user', '', 'crossdock-link'],
      ['permission', '/', 'crossdock-link'],
      ['permission', probeVhost, 'crossdock-link'],
    ]);
    expect(objects.every((o) => o.owner === 'cluster:c1')).toBe(true);
    const linkPerm = objects[3].value as Record<string, string>;
    expect(linkPerm.configure).toContain('^(landing)$');
    expect(objects[4].value).toEqual({ configure: '.*', write: '.*', read: '.*' });
  });

  it('plans creates on an empty broker, nothing once applied (idempotent), with a constant number of reads', async () => {
    const b = fakeBroker();
    const desired = compileAccess('c1', want);
    const first = await observeAccess(b as never, want);
    expect(first.objects).toEqual([]);
    const ops = diffAccess(desired, first.objects);
    // In apply order: the user and the vhost before the permissions that name them.
    expect(ops.map((o) => `${o.op} ${o.key.kind} ${o.key.vhost}`)).toEqual([
      'create user ',
      `create vhost ${probeVhost}`,
      `create permission ${probeVhost}`,
      'create permission /',
      `create permission ${probeVhost}`,
    ]);
    ops.forEach(b.write);
    const second = await observeAccess(b as never, want);
    expect(diffAccess(desired, second.objects)).toEqual([]);
    // Probe vhost and its permission, then the user and its permissions listing.
    expect(second.requests).toBe(4);
    expect(b.get).toHaveBeenCalledTimes(2 + 1 + 4);
  });

  it('a changed password is an update whose changes name the field, never the hash', async () => {
    const b = fakeBroker();
    diffAccess(compileAccess('c1', want), []).forEach(b.write);
    const rotated: AccessWant = {
      users: [{ ...want.users[0], passwordHash: rabbitPasswordHash('other', 'a1b2c3d4') }],
    };
    const ops = diffAccess(
      compileAccess('c1', rotated),
      (await observeAccess(b as never, rotated)).objects,
    );
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({
      op: 'update',
      key: { kind: 'user', name: 'crossdock-link' },
      changes: [{ path: 'password_hash', before: '(redacted)', after: '(redacted)' }],
    });
    const shown = JSON.stringify(redactPlan({ ops, findings: [] }));
    expect(shown).not.toContain(hash);
    expect(shown).not.toContain(rabbitPasswordHash('other', 'a1b2c3d4'));
    // The applier still sends the real hash.
    expect((ops[0] as Extract<PlanOp, { op: 'update' }>).after).toMatchObject({
      password_hash: rabbitPasswordHash('other', 'a1b2c3d4'),
    });
  });

  it('a create of a user never shows its hash in a plan', () => {
    const ops = diffAccess(compileAccess('c1', want), []);
    expect(JSON.stringify(redactPlan({ ops, findings: [] }))).not.toContain(hash);
  });

  it('permissions that differ are updated with their patterns shown; an existing vhost is left alone', () => {
    const observed: ObservedObject[] = [
      { kind: 'vhost', vhost: probeVhost, name: probeVhost, value: { description: 'theirs' } },
      {
        kind: 'permission',
        vhost: probeVhost,
        name: 'admin',
        value: { configure: '', write: '.*', read: '.*' },
      },
    ];
    const ops = diffAccess(compileAccess('c1', { probeAdmin: 'admin', users: [] }), observed);
    expect(ops).toEqual([
      expect.objectContaining({
        op: 'update',
        key: { kind: 'permission', vhost: probeVhost, name: 'admin' },
        changes: [{ path: 'configure', before: '', after: '.*' }],
      }),
    ]);
  });

  it('nothing wanted: nothing read', async () => {
    const b = fakeBroker();
    expect(await observeAccess(b as never, { users: [] })).toEqual({ objects: [], requests: 0 });
    expect(b.get).not.toHaveBeenCalled();
  });
});
