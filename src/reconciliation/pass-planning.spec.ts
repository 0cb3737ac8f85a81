import type { PlanOp } from './broker-state';
import type { RegistrySnapshot } from './compile';
import { awaitingDestination } from './pass-planning';

const shovel = (id: string, destinationClusterId: string) => ({
  id,
  name: `sh-${id}`,
  destinationClusterId,
});
const snapshot = {
  cluster: { id: 'src' },
  shovels: [shovel('a', 'dst'), shovel('b', 'src'), shovel('c', 'dst')],
} as unknown as RegistrySnapshot;
const create = (id: string, deleteAfter?: number | string): PlanOp => ({
  op: 'create',
  key: { kind: 'shovel', vhost: 'v', name: `crossdock.sh.sh-${id}` },
  owner: `shovel:${id}`,
  after: {
    'dest-uri': ['amqp://crossdock-link:secret@127.0.0.1:1/v'],
    ...(deleteAfter === undefined ? {} : { 'src-delete-after': deleteAfter }),
  },
});

describe('awaitingDestination (one-shot shovels wait for the destination link user)', () => {
  it('holds back a one-shot shovel into another cluster whose link-user login is refused', async () => {
    const verifyLinkLogin = jest
      .fn()
      .mockRejectedValue(
        new Error(
          'AMQP login to amqp://127.0.0.1:1/v failed: 403 (ACCESS-REFUSED) ACCESS_REFUSED - Login was refused',
        ),
      );
    const out = await awaitingDestination({ verifyLinkLogin }, snapshot, [create('a', 50)]);
    expect(out.map((w) => w.op.owner)).toEqual(['shovel:a']);
    expect(out[0].detail).toMatch(/sh-a waits for its destination cluster/);
    expect(out[0].detail).not.toContain('secret');
    expect(verifyLinkLogin).toHaveBeenCalledWith('dst', [
      'amqp://crossdock-link:secret@127.0.0.1:1/v',
    ]);
  });

  it('does not hold back on a refused vhost only when the login works', async () => {
    const refusedVhost = jest
      .fn()
      .mockRejectedValue(
        new Error("NOT_ALLOWED - access to vhost 'v' refused for user 'crossdock-link'"),
      );
    expect(
      await awaitingDestination({ verifyLinkLogin: refusedVhost }, snapshot, [
        create('c', 'queue-length'),
      ]),
    ).toHaveLength(1);
    const ok = jest.fn().mockResolvedValue(undefined);
    expect(
      await awaitingDestination({ verifyLinkLogin: ok }, snapshot, [create('c', 'queue-length')]),
    ).toEqual([]);
  });

  it('an endpoint crossdock cannot reach does not hold the shovel back', async () => {
    const unreachable = jest.fn().mockRejectedValue(new Error('connect ECONNREFUSED 127.0.0.1:1'));
    expect(
      await awaitingDestination({ verifyLinkLogin: unreachable }, snapshot, [create('a', 50)]),
    ).toEqual([]);
  });

  it('checks nothing for continuous shovels, shovels inside the cluster and updates', async () => {
    const verifyLinkLogin = jest.fn().mockRejectedValue(new Error('ACCESS_REFUSED'));
    const update: PlanOp = { ...create('a', 50), op: 'update', before: {}, changes: [] } as PlanOp;
    const out = await awaitingDestination({ verifyLinkLogin }, snapshot, [
      create('a'),
      create('a', 'never'),
      create('b', 50),
      update,
    ]);
    expect(out).toEqual([]);
    expect(verifyLinkLogin).not.toHaveBeenCalled();
  });
});
