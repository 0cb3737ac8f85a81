import type { PlanOp } from './broker-state';
import { compileCluster, type RegistrySnapshot } from './compile';
import {
  counterfactualSnapshot,
  declaredFromView,
  deleteBlock,
  unexplainedDeletes,
  type Explanations,
} from './delete-guard';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

const link = {
  id: 'l1',
  name: 'l1',
  kind: 'exchange' as const,
  downstreamClusterId: A,
  downstreamVhost: '/',
  upstreamClusterId: B,
  upstreamVhost: '/',
  targets: ['events'],
  targetPrefix: null,
  settings: {},
  paused: false,
};
const policy = {
  id: 'p1',
  name: 'p1',
  vhost: '/',
  pattern: '^events$',
  applyTo: 'exchanges' as const,
  priority: 1,
  definition: { 'alternate-exchange': 'ae' },
};

function snapshot(over: Partial<RegistrySnapshot> = {}): RegistrySnapshot {
  const cluster = (id: string, site: string, host: string) => ({
    id,
    siteId: site,
    brokerClusterName: host,
    linkEndpoints: [{ host, port: 5672 }],
  });
  return {
    cluster: { id: A, siteId: 's1', vhosts: ['/'], replication: [] },
    clusters: { [A]: cluster(A, 's1', 'a'), [B]: cluster(B, 's2', 'b') },
    sites: { s1: { id: 's1', loadBalancer: null }, s2: { id: 's2', loadBalancer: null } },
    linkCredentials: {},
    federationLinks: [],
    shovels: [],
    policies: [],
    known: { '/': { queues: [], exchanges: ['events'] } },
    federationQueueMaxBytes: 1 << 30,
    ...over,
  };
}

const none = (): Explanations => ({
  deletedLinks: [],
  deletedShovels: [],
  deletedPolicies: [],
  undone: new Set(),
});

/** Every owned object of the full registry, as the deletes of a pass over the emptied one. */
const deletesOf = (full: RegistrySnapshot): PlanOp[] =>
  compileCluster({
    ...full,
    linkCredentials: { [B]: { username: 'u', password: 'p' } },
  }).objects.map((o) => ({
    op: 'delete',
    key: { kind: o.kind, vhost: o.vhost, name: o.name },
    before: o.value,
    owner: o.owner,
  }));

describe('unexplainedDeletes', () => {
  const full = snapshot({ federationLinks: [link], policies: [policy] });
  const deletes = deletesOf(full);

  it('rows removed without an audited delete explain nothing', () => {
    expect(deletes.length).toBeGreaterThan(2);
    expect(unexplainedDeletes(deletes, snapshot(), none())).toEqual(deletes);
  });

  it('an audited link and policy deletion explain every object they leave behind (probe path, merged policy)', () => {
    const e = {
      ...none(),
      deletedLinks: [link],
      deletedPolicies: [{ ...policy, scope: 'global', clusterId: null, siteId: null }],
    };
    expect(unexplainedDeletes(deletes, snapshot(), e)).toEqual([]);
  });

  it('deleting only the policy explains the merged policy it was part of, not the link objects', () => {
    const e = {
      ...none(),
      deletedPolicies: [{ ...policy, scope: 'global', clusterId: null, siteId: null }],
    };
    const left = snapshot({ federationLinks: [link] });
    const planned = deletesOf(full).filter(
      (d) =>
        !compileCluster({
          ...left,
          linkCredentials: { [B]: { username: 'u', password: 'p' } },
        }).objects.some(
          (o) => o.kind === d.key.kind && o.name === d.key.name && o.vhost === d.key.vhost,
        ),
    );
    expect(planned.length).toBeGreaterThan(0);
    expect(unexplainedDeletes(planned, left, e)).toEqual([]);
    expect(unexplainedDeletes(planned, left, none())).toEqual(planned);
  });

  it('an audited pause explains the paused link; a policy of another cluster explains nothing', () => {
    const paused = snapshot({ federationLinks: [{ ...link, paused: true }], policies: [policy] });
    const planned = deletesOf(full).filter((d) => d.owner === 'link:l1');
    expect(unexplainedDeletes(planned, paused, { ...none(), undone: new Set(['l1']) })).toEqual([]);
    const other = {
      ...none(),
      deletedPolicies: [{ ...policy, scope: 'cluster', clusterId: B, siteId: null }],
    };
    expect(counterfactualSnapshot(snapshot(), other).policies).toEqual([]);
  });
});

describe('unexplainedDeletes: declared exchanges, queues and bindings', () => {
  const declared = [
    {
      id: 'x1',
      kind: 'exchange' as const,
      vhost: '/',
      name: 'orders',
      definition: {
        type: 'topic',
        durable: true,
        autoDelete: false,
        internal: false,
        arguments: {},
      },
    },
    {
      id: 'q1',
      kind: 'queue' as const,
      vhost: '/',
      name: 'landing',
      definition: { type: 'quorum', durable: true, autoDelete: false, arguments: {} },
    },
    {
      id: 'b1',
      kind: 'binding' as const,
      vhost: '/',
      name: '',
      definition: {
        source: 'orders',
        destinationType: 'queue',
        destination: 'landing',
        routingKey: 'eu.#',
        arguments: {},
      },
    },
  ];
  const deletes = deletesOf(snapshot({ declared }));

  it('their audited deletions explain the deletes (the views as the audit trail keeps them)', () => {
    expect(deletes.map((d) => d.owner).sort()).toEqual(['binding:b1', 'exchange:x1', 'queue:q1']);
    expect(unexplainedDeletes(deletes, snapshot(), none())).toEqual(deletes);
    const views: Record<string, Record<string, unknown>> = {
      x1: {
        id: 'x1',
        clusterId: A,
        vhost: '/',
        name: 'orders',
        type: 'topic',
        durable: true,
        autoDelete: false,
        internal: false,
        arguments: {},
      },
      q1: {
        id: 'q1',
        clusterId: A,
        vhost: '/',
        name: 'landing',
        type: 'quorum',
        durable: true,
        autoDelete: false,
        arguments: {},
      },
      b1: {
        id: 'b1',
        clusterId: A,
        vhost: '/',
        source: 'orders',
        destinationType: 'queue',
        destination: 'landing',
        routingKey: 'eu.#',
        arguments: {},
      },
    };
    const kinds = { x1: 'exchange', q1: 'queue', b1: 'binding' } as const;
    const e: Explanations = {
      ...none(),
      deletedDeclared: Object.entries(views).map(([id, v]) =>
        declaredFromView(kinds[id as keyof typeof kinds], v),
      ),
    };
    expect(unexplainedDeletes(deletes, snapshot(), e)).toEqual([]);
    // Another cluster's deletions explain nothing here.
    const other = { ...none(), deletedDeclared: declared.map((d) => ({ ...d, clusterId: B })) };
    expect(unexplainedDeletes(deletes, snapshot(), other)).toEqual(deletes);
  });
});

describe('deleteBlock', () => {
  const op = (name: string): PlanOp => ({
    op: 'delete',
    key: { kind: 'policy', vhost: '/', name },
    before: {},
    owner: `policy:${name}`,
  });
  it('names owners, objects and the confirm call; keeps `since` while the same objects are blocked', () => {
    const first = deleteBlock({
      clusterId: A,
      runId: 'r1',
      reason: 'x',
      deletes: [op('a'), op('b')],
      unexplained: [op('a')],
      previous: null,
      now: new Date(1000),
    });
    expect(first).toMatchObject({
      since: new Date(1000).toISOString(),
      deletes: 2,
      unexplained: 1,
      owners: ['policy:a', 'policy:b'],
      confirm: { method: 'POST', path: '/reconcile', body: { clusterId: A, confirmDeletes: true } },
    });
    const again = deleteBlock({
      clusterId: A,
      runId: 'r2',
      reason: 'x',
      deletes: [op('a')],
      unexplained: [op('a')],
      previous: first,
      now: new Date(5000),
    });
    expect(again.since).toBe(first.since);
    expect(again.runId).toBe('r2');
    const other = deleteBlock({
      clusterId: A,
      runId: 'r3',
      reason: 'x',
      deletes: [op('c')],
      unexplained: [op('c')],
      previous: first,
      now: new Date(9000),
    });
    expect(other.since).toBe(new Date(9000).toISOString());
  });
});
