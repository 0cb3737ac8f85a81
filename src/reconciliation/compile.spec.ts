import { compileCluster, type RegistrySnapshot } from './compile';
import { diffStates } from './diff';
import { probeVhost } from '../probes/probe-topology';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';
const C = '00000000-0000-4000-8000-00000000000c';

function snapshot(over: Partial<RegistrySnapshot> = {}): RegistrySnapshot {
  return {
    cluster: { id: A, siteId: 's1', vhosts: ['/'], replication: [] },
    clusters: {
      [A]: {
        id: A,
        siteId: 's1',
        brokerClusterName: 'a',
        linkEndpoints: [{ host: 'a.example', port: 5672 }],
      },
      [B]: {
        id: B,
        siteId: 's2',
        brokerClusterName: 'b',
        linkEndpoints: [
          { host: 'b2.example', port: 5672 },
          { host: 'b1.example', port: 5672 },
        ],
      },
      [C]: {
        id: C,
        siteId: 's3',
        brokerClusterName: 'c',
        linkEndpoints: [{ host: 'c.example', port: 5672 }],
      },
    },
    sites: {
      s1: { id: 's1', loadBalancer: null },
      s2: { id: 's2', loadBalancer: null },
      s3: { id: 's3', loadBalancer: { host: 'lb.s3', port: 5671 } },
    },
    linkCredentials: {
      [A]: { username: 'link', password: 'p@ss/word' },
      [B]: { username: 'link', password: 'secret-b' },
      [C]: { username: 'link', password: 'secret-c' },
    },
    federationLinks: [],
    shovels: [],
    policies: [],
    known: { '/': { queues: ['orders.eu', 'orders.us', 'other'], exchanges: ['events'] } },
    federationQueueMaxBytes: 1 << 30,
    ...over,
  };
}

const link = (over: Partial<RegistrySnapshot['federationLinks'][number]> = {}) => ({
  id: 'l1',
  name: 'l1',
  kind: 'queue' as const,
  downstreamClusterId: A,
  downstreamVhost: '/',
  upstreamClusterId: B,
  upstreamVhost: '/',
  targets: ['orders.eu'],
  targetPrefix: null,
  settings: {},
  paused: false,
  ...over,
});

/** The user's side of a result (probe objects live in crossdock's own vhost, tested apart). */
const user = (r: ReturnType<typeof compileCluster>) =>
  r.objects.filter((o) => o.vhost !== probeVhost);
const policies = (r: ReturnType<typeof compileCluster>) =>
  user(r)
    .filter((o) => o.kind === 'policy')
    .map((o) => o.value as Record<string, unknown>);

describe('compileCluster', () => {
  it('derives an upstream with a URI list from link endpoints, heartbeats and resource-cleanup-mode never', () => {
    const r = compileCluster(snapshot({ federationLinks: [link()] }));
    const up = r.objects.find((o) => o.kind === 'federation-upstream');
    expect(up).toMatchObject({ name: 'crossdock.up.l1', owner: 'link:l1' });
    expect((up?.value as Record<string, unknown>).uri).toEqual([
      'amqp://link:secret-b@b1.example:5672/%2F?heartbeat=10&connection_timeout=10000',
      'amqp://link:secret-b@b2.example:5672/%2F?heartbeat=10&connection_timeout=10000',
    ]);
    expect(up?.value).toMatchObject({ 'resource-cleanup-mode': 'never', 'ack-mode': 'on-confirm' });
    expect(policies(r)).toEqual([
      {
        pattern: '^(?:orders\\.eu)$',
        definition: { 'federation-upstream': 'crossdock.up.l1' },
        priority: 101,
        'apply-to': 'queues',
      },
    ]);
  });

  it('uses the site load balancer when there is one', () => {
    const r = compileCluster(snapshot({ federationLinks: [link({ upstreamClusterId: C })] }));
    expect((user(r)[0].value as Record<string, unknown>).uri).toEqual([
      'amqp://link:secret-c@lb.s3:5671/%2F?heartbeat=10&connection_timeout=10000',
    ]);
  });

  it('merges mirroring and federation into one policy per object set, in priority bands', () => {
    const r = compileCluster(
      snapshot({
        cluster: {
          id: A,
          siteId: 's1',
          vhosts: ['/'],
          replication: [
            {
              pattern: '^orders\\.',
              mode: 'classic',
              haMode: 'exactly',
              haParams: 2,
              haSyncMode: 'automatic',
            },
          ],
        },
        federationLinks: [link({ targetPrefix: 'orders.', targets: [] })],
      }),
    );
    const ps = policies(r).sort((a, b) => (b.priority as number) - (a.priority as number));
    expect(ps).toHaveLength(3);
    // Classic queues under orders.: federation + mirroring (highest band).
    expect(ps[0]).toMatchObject({
      priority: 102,
      definition: {
        'federation-upstream': 'crossdock.up.l1',
        'ha-mode': 'exactly',
        'ha-params': 2,
      },
    });
    // Quorum queues skip ha-* policies and land on federation only, one band lower: never ha-* on quorum.
    const fedOnly = ps.filter((p) => p.priority === 101);
    expect(fedOnly.map((p) => p.definition)).toEqual(
      expect.arrayContaining([
        { 'federation-upstream': 'crossdock.up.l1' },
        { 'ha-mode': 'exactly', 'ha-params': 2, 'ha-sync-mode': 'automatic' },
      ]),
    );
    expect(new RegExp(ps[0].pattern as string).test('orders.eu')).toBe(true);
    expect(new RegExp(ps[0].pattern as string).test('other')).toBe(false);
  });

  it('joins several links into one object as an explicit upstream set, never `all`', () => {
    const r = compileCluster(
      snapshot({ federationLinks: [link(), link({ id: 'l2', name: 'l2', upstreamClusterId: C })] }),
    );
    const set = r.objects.find((o) => o.kind === 'federation-upstream-set');
    expect(set?.value).toEqual([{ upstream: 'crossdock.up.l1' }, { upstream: 'crossdock.up.l2' }]);
    const top = policies(r).sort((a, b) => (b.priority as number) - (a.priority as number))[0];
    expect(top.definition).toEqual({ 'federation-upstream-set': set?.name });
  });

  it('emits nothing for a paused link, and a shovel with a direct source URI', () => {
    const r = compileCluster(
      snapshot({
        federationLinks: [link({ paused: true })],
        shovels: [
          {
            id: 's1',
            name: 'spill',
            sourceClusterId: A,
            sourceVhost: '/',
            sourceQueue: 'orders',
            sourceExchange: null,
            sourceExchangeKey: null,
            destinationClusterId: B,
            destinationVhost: '/',
            destinationQueue: 'orders.remote',
            destinationExchange: null,
            destinationExchangeKey: null,
            settings: { deleteAfter: 100, prefetchCount: 10 },
            paused: false,
          },
        ],
      }),
    );
    expect(user(r).map((o) => o.kind)).toEqual(['shovel']);
    expect(user(r)[0].value).toMatchObject({
      'src-uri': ['amqp:///%2F'],
      'src-queue': 'orders',
      'dest-queue': 'orders.remote',
      'src-delete-after': 100,
      'src-prefetch-count': 10,
    });
  });

  it('reports genuinely conflicting values from two sources on the same objects', () => {
    const base = { vhost: '/', applyTo: 'queues' as const, priority: 0 };
    const r = compileCluster(
      snapshot({
        policies: [
          { ...base, id: 'p1', name: 'p1', pattern: '^orders', definition: { 'max-length': 10 } },
          { ...base, id: 'p2', name: 'p2', pattern: 'eu$', definition: { 'max-length': 20 } },
        ],
      }),
    );
    expect(r.conflicts).toEqual([
      expect.objectContaining({
        key: 'max-length',
        sources: expect.arrayContaining(['policy:p1', 'policy:p2']),
      }),
    ]);
  });

  it('bounds the federation backlog on the upstream side with a guard policy', () => {
    const r = compileCluster(
      snapshot({
        federationLinks: [
          link({
            kind: 'exchange',
            targets: ['events'],
            downstreamClusterId: B,
            upstreamClusterId: A,
          }),
        ],
      }),
    );
    expect(policies(r)).toEqual([
      {
        pattern: '^federation: ',
        definition: { 'max-length-bytes': 1 << 30, overflow: 'reject-publish' },
        priority: 101,
        'apply-to': 'queues',
      },
    ]);
  });

  it('emits one guard per upstream vhost however many links pull from it, paused ones included', () => {
    const up = (id: string, paused = false) =>
      link({
        id,
        name: id,
        kind: 'exchange',
        targets: [id],
        downstreamClusterId: B,
        upstreamClusterId: A,
        paused,
      });
    const r = compileCluster(snapshot({ federationLinks: [up('x1'), up('x2'), up('x3', true)] }));
    expect(user(r).map((o) => [o.kind, o.name])).toEqual([
      ['policy', expect.stringMatching(/^crossdock\.p\.q\./)],
    ]);
    // Only the paused link: its backlog still waits upstream, so the guard stays.
    expect(policies(compileCluster(snapshot({ federationLinks: [up('x3', true)] })))).toHaveLength(
      1,
    );
  });
});

describe('compileCluster: keys the cluster version does not know', () => {
  const typedLink = link({ settings: { queueType: 'quorum' } });
  const quorumPolicy = {
    id: 'p-q',
    name: 'quorum-limits',
    vhost: '/',
    pattern: '^orders\\.',
    applyTo: 'quorum_queues' as const,
    priority: 0,
    definition: { 'delivery-limit': 5 },
  };
  const plainPolicy = {
    ...quorumPolicy,
    id: 'p-x',
    name: 'plain',
    pattern: '^events$',
    applyTo: 'exchanges' as const,
    definition: { 'alternate-exchange': 'ae' },
  };
  const at = (brokerVersion: string | null | undefined) =>
    compileCluster(
      snapshot({
        cluster: {
          id: A,
          siteId: 's1',
          vhosts: ['/'],
          replication: [],
          name: 'dc1/main',
          brokerVersion,
        },
        federationLinks: [typedLink],
        policies: [quorumPolicy, plainPolicy],
      }),
    );

  it.each([
    ['3.10.8', true, true],
    ['3.12.0', true, false],
    ['3.13.0', true, false],
    ['3.13.1', false, false],
    ['4.0', false, false],
  ])('at %s: link held back %p, per-type policy held back %p', (v, linkHeld, policyHeld) => {
    const r = at(v);
    const upstream = user(r).find((o) => o.kind === 'federation-upstream');
    expect(upstream === undefined).toBe(linkHeld);
    if (upstream) expect(upstream.value).toMatchObject({ 'queue-type': 'quorum' });
    const applyTos = policies(r).map((p) => p['apply-to']);
    expect(applyTos.includes('quorum_queues')).toBe(!policyHeld);
    // Everything else on the cluster still compiles.
    expect(applyTos).toContain('exchanges');
    expect(r.heldBack.map((h) => h.owner).sort()).toEqual(
      [...(linkHeld ? ['link:l1'] : []), ...(policyHeld ? ['policy:p-q'] : [])].sort(),
    );
    for (const h of r.heldBack) {
      expect(h.detail).toContain(`cluster dc1/main runs ${v}`);
      expect(h.version).toBe(v);
    }
    if (linkHeld)
      expect(r.heldBack.find((h) => h.owner === 'link:l1')?.detail).toBe(
        `link l1 is held back (not applied): queue-type needs RabbitMQ >= 3.13.1; cluster dc1/main runs ${v}`,
      );
  });

  it('holds back every gated key while the version is not known, and gates nothing when asked not to', () => {
    expect(
      at(null)
        .heldBack.map((h) => h.owner)
        .sort(),
    ).toEqual(['link:l1', 'policy:p-q']);
    expect(at(null).heldBack[0].detail).toMatch(/not known yet/);
    expect(at(undefined).heldBack).toEqual([]);
  });

  it('narrows a combination with a per-type policy to that queue type', () => {
    const r = at('4.0');
    const both = policies(r).find(
      (p) =>
        (p.definition as Record<string, unknown>)['federation-upstream'] &&
        (p.definition as Record<string, unknown>)['delivery-limit'],
    );
    expect(both).toMatchObject({ 'apply-to': 'quorum_queues', priority: 102 });
    const linkOnly = policies(r).find(
      (p) =>
        (p.definition as Record<string, unknown>)['federation-upstream'] &&
        !(p.definition as Record<string, unknown>)['delivery-limit'],
    );
    expect(linkOnly).toMatchObject({ 'apply-to': 'queues', priority: 101 });
  });

  it('never combines two different queue types', () => {
    const classic = { ...quorumPolicy, id: 'p-c', name: 'c', applyTo: 'classic_queues' as const };
    const r = compileCluster(
      snapshot({
        cluster: { id: A, siteId: 's1', vhosts: ['/'], replication: [], brokerVersion: '3.12.0' },
        policies: [quorumPolicy, { ...classic, definition: { 'max-length': 10 } }],
      }),
    );
    expect(
      policies(r)
        .map((p) => p['apply-to'])
        .sort(),
    ).toEqual(['classic_queues', 'quorum_queues']);
  });
});

describe('compileCluster with many policies', () => {
  const many = (n: number, pattern: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => ({
      id: `p-${i}`,
      name: `p-${String(i).padStart(4, '0')}`,
      vhost: '/',
      pattern: pattern(i),
      applyTo: 'queues' as const,
      priority: 0,
      definition: { 'max-length': 1000 + i },
    }));

  it('emits every policy of a vhost, however many: only combinations are bounded', () => {
    const r = compileCluster(snapshot({ policies: many(1200, (i) => `^bench\\.q${i}$`) }));
    expect(policies(r)).toHaveLength(1200);
    expect(r.warnings).toEqual([]);
  });

  it('bounds the combinations of overlapping policies, and says so', () => {
    // Twelve policies all matching `orders.eu`: 4,083 combinations in theory.
    const r = compileCluster(snapshot({ policies: many(12, (i) => `^orders\\.(eu|x${i})$`) }));
    expect(policies(r)).toHaveLength(12 + 256);
    expect(r.warnings).toEqual([expect.stringMatching(/more than 256 combinations/)]);
  });
});

describe('compileCluster + diffStates across an upgrade', () => {
  it('holds a queue-type link back on 3.13.0 and creates it, with queue-type, once the cluster runs 3.13.1', () => {
    const s = (brokerVersion: string) =>
      snapshot({
        cluster: { id: A, siteId: 's1', vhosts: ['/'], replication: [], brokerVersion },
        federationLinks: [link({ settings: { queueType: 'classic' } })],
      });
    const plan = (v: string) => {
      const desired = compileCluster(s(v));
      return diffStates(desired, { objects: [], requests: 8 }, [], {
        heldBackOwners: new Set(desired.heldBack.map((h) => h.owner)),
      });
    };
    const before = plan('3.13.0').ops.filter((o) => o.key.vhost === '/');
    expect(before).toEqual([]);
    const after = plan('3.13.1').ops.filter((o) => o.key.vhost === '/');
    expect(after.map((o) => `${o.op} ${o.key.kind}`)).toEqual([
      'create federation-upstream',
      'create policy',
    ]);
    expect(after[0]).toMatchObject({ after: { 'queue-type': 'classic' } });
  });
});
