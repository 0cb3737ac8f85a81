import { bindingName } from '../broker-topology/broker-paths';
import {
  decodeExchange,
  decodeQueue,
  encodeExchange,
  encodeQueue,
  type QueueModel,
} from '../broker-topology/topology.codec';
import type { DesiredObject, ObservedObject } from './broker-state';
import { compileDeclared, mergeDeclared, type DeclaredObject } from './compile-topology';
import { compileCluster, type RegistrySnapshot } from './compile';
import { deletable, diffStates, type OwnershipEntry } from './diff';

const A = '00000000-0000-4000-8000-00000000000a';
const Q = '00000000-0000-4000-8000-0000000000a1';

const queue = (over: Partial<QueueModel> = {}): DeclaredObject => ({
  id: Q,
  kind: 'queue',
  vhost: '/',
  name: 'orders',
  definition: {
    type: 'quorum',
    durable: true,
    autoDelete: false,
    arguments: { 'x-max-length': 10 },
    ...over,
  },
});

function snapshot(over: Partial<RegistrySnapshot> = {}): RegistrySnapshot {
  return {
    cluster: { id: A, siteId: 's1', vhosts: ['/'], replication: [] },
    clusters: {
      [A]: { id: A, siteId: 's1', brokerClusterName: 'a', linkEndpoints: [] },
    },
    sites: { s1: { id: 's1', loadBalancer: null } },
    linkCredentials: {},
    federationLinks: [],
    shovels: [],
    policies: [],
    known: {},
    federationQueueMaxBytes: 1 << 30,
    ...over,
  };
}

const desiredOf = (objects: DesiredObject[]) => ({
  clusterId: A,
  vhosts: ['/'],
  objects,
  warnings: [],
});
const observed = (objects: ObservedObject[]) => ({ objects, requests: 3 });

describe('topology codecs', () => {
  it('round-trips queues and exchanges with their defaults', () => {
    const q: QueueModel = { type: 'stream', durable: true, autoDelete: false, arguments: { a: 1 } };
    expect(decodeQueue(encodeQueue(q))).toEqual({ ok: true, model: q });
    const classic: QueueModel = {
      type: 'classic',
      durable: false,
      autoDelete: true,
      arguments: {},
    };
    expect(encodeQueue(classic)).toEqual({ durable: false, auto_delete: true, arguments: {} });
    expect(decodeQueue(encodeQueue(classic))).toEqual({ ok: true, model: classic });
    const x = { type: 'topic', durable: true, autoDelete: false, internal: true, arguments: {} };
    expect(decodeExchange(encodeExchange(x))).toEqual({ ok: true, model: x });
  });
});

describe('compiling declared objects', () => {
  it('owns declared objects (not ensure-only), bindings included', () => {
    const r = compileCluster(
      snapshot({
        declared: [
          queue(),
          {
            id: 'b1',
            kind: 'binding',
            vhost: '/',
            name: 'ignored',
            definition: {
              source: 'events',
              destinationType: 'queue',
              destination: 'orders',
              routingKey: 'eu.#',
              arguments: {},
            },
          },
        ],
      }),
    );
    const q = r.objects.find((o) => o.kind === 'queue' && o.name === 'orders');
    expect(q).toEqual({
      kind: 'queue',
      vhost: '/',
      name: 'orders',
      owner: `queue:${Q}`,
      value: {
        durable: true,
        auto_delete: false,
        arguments: { 'x-max-length': 10, 'x-queue-type': 'quorum' },
      },
    });
    expect(q?.ensureOnly).toBeUndefined();
    const b = r.objects.find((o) => o.kind === 'binding');
    expect(b?.name).toBe(
      bindingName({
        source: 'events',
        destinationType: 'q',
        destination: 'orders',
        routingKey: 'eu.#',
      }),
    );
    expect(b?.owner).toBe('binding:b1');
  });

  it('holds back a stream on a broker older than 3.9', () => {
    const r = compileCluster(
      snapshot({
        cluster: { id: A, siteId: 's1', vhosts: ['/'], replication: [], brokerVersion: '3.8.9' },
        declared: [queue({ type: 'stream', arguments: {} })],
      }),
    );
    expect(r.objects.some((o) => o.kind === 'queue')).toBe(false);
    expect(r.heldBack[0]).toMatchObject({ owner: `queue:${Q}` });
    expect(r.heldBack[0].detail).toContain('x-queue-type: stream needs RabbitMQ >= 3.9.0');
  });

  it('skips a vhost the cluster does not manage, with a warning', () => {
    const warnings: string[] = [];
    expect(compileDeclared([{ ...queue(), vhost: 'other' }], ['/'], () => true, warnings)).toEqual(
      [],
    );
    expect(warnings[0]).toContain('vhost other is not managed');
  });

  it('a declaration replaces an ensure-only object under the same key', () => {
    const ensured: DesiredObject = {
      kind: 'queue',
      vhost: '/',
      name: 'orders',
      owner: 'link:l1',
      value: { durable: true, auto_delete: false, arguments: {} },
      ensureOnly: true,
    };
    const other: DesiredObject = { ...ensured, name: 'other' };
    const declared = compileDeclared([queue()], ['/'], () => true, []);
    const merged = mergeDeclared([ensured, other], declared);
    expect(merged.map((o) => `${o.name}:${o.owner}`)).toEqual([
      'other:link:l1',
      `orders:queue:${Q}`,
    ]);
  });
});

describe('diffing declared objects', () => {
  const declared = compileDeclared([queue()], ['/'], () => true, []);
  const same: ObservedObject = {
    kind: 'queue',
    vhost: '/',
    name: 'orders',
    value: declared[0].value,
  };

  it('creates a missing declared queue', () => {
    const plan = diffStates(desiredOf(declared), observed([]), []);
    expect(plan.ops).toEqual([
      expect.objectContaining({
        op: 'create',
        owner: `queue:${Q}`,
        key: { kind: 'queue', vhost: '/', name: 'orders' },
      }),
    ]);
  });

  it('adopts an identical queue that is already there', () => {
    const plan = diffStates(desiredOf(declared), observed([same]), []);
    expect(plan.ops).toEqual([]);
    expect(plan.adoptions).toEqual([
      { kind: 'queue', vhost: '/', name: 'orders', owner: `queue:${Q}` },
    ]);
    expect(plan.findings).toEqual([]);
  });

  it('reports a conflict naming both definitions, owned or not, and never writes', () => {
    const other: ObservedObject = {
      ...same,
      value: { durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' } },
    };
    for (const ledger of [
      [],
      [{ kind: 'queue', vhost: '/', name: 'orders', owner: `queue:${Q}` }],
    ] as OwnershipEntry[][]) {
      const plan = diffStates(desiredOf(declared), observed([other]), ledger);
      expect(plan.ops).toEqual([]);
      expect(plan.findings).toHaveLength(1);
      const f = plan.findings[0];
      expect(f.kind).toBe('definition-conflict');
      expect(f.detail).toContain('"x-queue-type":"quorum"');
      expect(f.detail).toContain('the broker holds {"arguments":{},');
      expect(f.detail).toContain('never deleted and re-created');
    }
  });

  it('retain: a released queue (no ledger row) is left alone once undeclared', () => {
    const plan = diffStates(desiredOf([]), observed([same]), []);
    expect(plan.ops).toEqual([]);
  });

  it('an owned queue is deleted once undeclared only when its row allows it', () => {
    const row: OwnershipEntry = { kind: 'queue', vhost: '/', name: 'orders', owner: `queue:${Q}` };
    expect(diffStates(desiredOf([]), observed([same]), [row]).ops).toEqual([]);
    expect(deletable({ ...row, ensureOnly: null as unknown as undefined })).toBe(false);
    const plan = diffStates(desiredOf([]), observed([same]), [{ ...row, ensureOnly: false }]);
    expect(plan.ops).toEqual([expect.objectContaining({ op: 'delete', owner: `queue:${Q}` })]);
  });

  it('an undeclared owned binding is deleted', () => {
    const name = bindingName({
      source: 'events',
      destinationType: 'q',
      destination: 'orders',
      routingKey: '',
    });
    const plan = diffStates(
      desiredOf([]),
      observed([
        { kind: 'binding', vhost: '/', name, value: { arguments: {}, properties_key: '~' } },
      ]),
      [{ kind: 'binding', vhost: '/', name, owner: 'binding:b1' }],
    );
    expect(plan.ops).toEqual([expect.objectContaining({ op: 'delete', owner: 'binding:b1' })]);
  });
});
