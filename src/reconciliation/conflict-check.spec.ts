import type { RegistrySnapshot } from './compile';
import { clusterConflicts, withRegistryNames } from './conflict-check';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

function snapshot(over: Partial<RegistrySnapshot> = {}): RegistrySnapshot {
  return {
    cluster: { id: A, siteId: 's1', vhosts: ['/'], replication: [] },
    clusters: {
      [A]: { id: A, siteId: 's1', brokerClusterName: 'a', linkEndpoints: [] },
      [B]: { id: B, siteId: 's2', brokerClusterName: 'b', linkEndpoints: [{ host: 'b', port: 1 }] },
    },
    sites: { s1: { id: 's1', loadBalancer: null }, s2: { id: 's2', loadBalancer: null } },
    linkCredentials: { [B]: { username: 'link', password: 'placeholder' } },
    federationLinks: [],
    shovels: [],
    policies: [],
    known: {},
    federationQueueMaxBytes: 1 << 30,
    ...over,
  };
}
const policy = (
  id: string,
  pattern: string,
  definition: Record<string, unknown>,
  priority = 0,
) => ({
  id,
  name: id,
  vhost: '/',
  pattern,
  applyTo: 'queues' as const,
  priority,
  definition,
});

describe('clusterConflicts', () => {
  it('finds two policies setting one key differently at one priority on a known object, once', () => {
    const s = snapshot({
      policies: [
        policy('p1', '^orders\\.', { 'max-length': 100 }),
        policy('p2', 'eu$', { 'max-length': 200 }),
        policy('p3', '^billing', { 'max-length': 5 }),
      ],
      known: { '/': { queues: ['orders.eu', 'orders.us', 'billing'], exchanges: [] } },
    });
    expect(clusterConflicts(s)).toEqual([
      expect.objectContaining({
        clusterId: A,
        vhost: '/',
        key: 'max-length',
        applyTo: 'queues',
        priority: 0,
        sources: ['policy:p1', 'policy:p2'],
        values: [100, 200],
        objects: ['orders.eu'],
      }),
    ]);
  });

  it('sees no overlap of two patterns that no known object matches both of', () => {
    const s = snapshot({
      policies: [
        policy('p1', '^orders\\.', { 'max-length': 100 }),
        policy('p2', 'eu$', { 'max-length': 200 }),
      ],
      known: { '/': { queues: ['orders.us', 'billing.eu'], exchanges: [] } },
    });
    expect(clusterConflicts(s)).toEqual([]);
  });

  it('lets the higher priority win instead of conflicting, and equal values agree', () => {
    const known = { '/': { queues: ['orders.eu'], exchanges: [] } };
    expect(
      clusterConflicts(
        snapshot({
          known,
          policies: [
            policy('p1', '^orders', { 'max-length': 1 }),
            policy('p2', 'eu$', { 'max-length': 2 }, 5),
          ],
        }),
      ),
    ).toEqual([]);
    expect(
      clusterConflicts(
        snapshot({
          known,
          policies: [
            policy('p1', '^orders', { 'max-length': 1 }),
            policy('p2', 'eu$', { 'max-length': 1 }),
          ],
        }),
      ),
    ).toEqual([]);
  });

  it('names replication rules and the backlog guard as sources', () => {
    const s = snapshot({
      cluster: {
        id: A,
        siteId: 's1',
        vhosts: ['/'],
        replication: [{ pattern: '^orders', mode: 'classic', haMode: 'all', haSyncMode: 'manual' }],
      },
      policies: [
        policy('p1', '^orders', { 'ha-mode': 'exactly', 'ha-params': 2 }),
        policy('p2', '^federation: ', { overflow: 'drop-head' }),
      ],
      federationLinks: [
        {
          id: 'l1',
          name: 'l1',
          kind: 'exchange',
          downstreamClusterId: B,
          downstreamVhost: '/',
          upstreamClusterId: A,
          upstreamVhost: '/',
          targets: ['events'],
          targetPrefix: null,
          settings: {},
          paused: false,
        },
      ],
      known: { '/': { queues: ['orders.eu', 'federation: events -> b'], exchanges: [] } },
    });
    const found = clusterConflicts(s).map((c) => [c.key, [...c.sources].sort()]);
    expect(found).toEqual(
      expect.arrayContaining([
        ['ha-mode', ['policy:p1', 'replication:^orders']],
        ['overflow', ['guard:federation-queues', 'policy:p2']],
      ]),
    );
  });
});

describe('withRegistryNames (the names-only fallback)', () => {
  it('adds link targets and shovel queues to what was observed', () => {
    const s = withRegistryNames(
      snapshot({
        known: { '/': { queues: ['seen'], exchanges: [] } },
        federationLinks: [
          {
            id: 'l1',
            name: 'l1',
            kind: 'queue',
            downstreamClusterId: A,
            downstreamVhost: 'v2',
            upstreamClusterId: B,
            upstreamVhost: 'v2',
            targets: ['jobs.eu'],
            targetPrefix: null,
            settings: {},
            paused: false,
          },
        ],
      }),
    );
    expect(s.known).toEqual({
      '/': { queues: ['seen'], exchanges: [] },
      v2: { queues: ['jobs.eu'], exchanges: [] },
    });
  });
});
