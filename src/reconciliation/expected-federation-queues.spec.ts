import { probeNames, probeVhost } from '../probes/probe-topology';
import type { ObservedObject } from './broker-state';
import type { RegistrySnapshot } from './compile';
import { diffStates } from './diff';
import { federationQueueName } from '../broker-topology/broker-paths';
import { expectedFederationQueues } from './expected-federation-queues';

const up = '11111111-1111-4111-8111-111111111111';
const down = '22222222-2222-4222-8222-222222222222';
const other = '33333333-3333-4333-8333-333333333333';

type Link = RegistrySnapshot['federationLinks'][number];
const link = (id: string, kind: Link['kind'], downstream: string, extra: Partial<Link> = {}) =>
  ({
    id,
    name: id,
    kind,
    downstreamClusterId: downstream,
    downstreamVhost: 'apps',
    upstreamClusterId: up,
    upstreamVhost: 'apps',
    targets: ['orders'],
    targetPrefix: null,
    settings: {},
    paused: false,
    ...extra,
  }) as Link;

function snapshot(links: Link[]): RegistrySnapshot {
  const c = (id: string, name: string) => ({
    id,
    siteId: `site-${name}`,
    brokerClusterName: name,
    linkEndpoints: [],
  });
  return {
    cluster: { id: up, siteId: 'site-up', vhosts: ['apps'], replication: [] },
    clusters: { [up]: c(up, 'dc1'), [down]: c(down, 'dc2'), [other]: c(other, 'dc3') },
    sites: {},
    linkCredentials: {},
    federationLinks: links,
    shovels: [],
    policies: [],
    known: {},
    federationQueueMaxBytes: 1024,
  };
}

const queue = (vhost: string, name: string): ObservedObject => ({
  kind: 'queue',
  vhost,
  name,
  value: { durable: true, auto_delete: false, arguments: {} },
});

describe('expectedFederationQueues', () => {
  const links = [
    link('l1', 'exchange', down),
    link('l2', 'queue', down, { targets: ['work'] }),
    link('l3', 'queue', other, { paused: true }),
  ];

  it('expects one probe backlog queue per downstream cluster, whatever the link kinds', () => {
    const refs = expectedFederationQueues(snapshot(links), up);
    const probes = refs.filter((r) => r.vhost === probeVhost);
    expect(probes).toEqual([
      {
        vhost: probeVhost,
        exchange: probeNames.exchange(up, down),
        downstreamCluster: 'dc2',
        downstreamVhost: probeVhost,
        downstreamExchange: probeNames.exchange(up, down),
      },
      {
        vhost: probeVhost,
        exchange: probeNames.exchange(up, other),
        downstreamCluster: 'dc3',
        downstreamVhost: probeVhost,
        downstreamExchange: probeNames.exchange(up, other),
      },
    ]);
    // Exchange links still explain their own backlog; queue federation has none.
    expect(refs.filter((r) => r.vhost === 'apps').map((r) => r.exchange)).toEqual(['orders']);
  });

  it('is empty on a cluster nobody federates from', () => {
    expect(expectedFederationQueues(snapshot(links), down)).toEqual([]);
  });

  it('keeps probe backlog queues out of the orphan findings, and still reports real orphans', () => {
    const probeQueue = `federation: ${probeNames.exchange(up, down)} -> dc2`;
    const observed = {
      objects: [
        queue(probeVhost, probeQueue),
        queue('apps', 'federation: orders -> dc2'),
        queue('apps', 'federation: stray -> dc9'),
      ],
      requests: 7,
    };
    const plan = diffStates(
      { clusterId: up, vhosts: ['apps', probeVhost], objects: [], warnings: [] },
      observed,
      [],
      { expectedFederationQueues: expectedFederationQueues(snapshot(links), up) },
    );
    expect(plan.findings.map((f) => [f.kind, f.key.name])).toEqual([
      ['orphan-federation-queue', 'federation: stray -> dc9'],
    ]);
  });

  it('names the backlog queue of a link that pulls from an upstream exchange of another name after it', () => {
    const renamed = [link('l4', 'exchange', down, { upstreamObject: 'orders.up' })];
    const refs = expectedFederationQueues(snapshot(renamed), up).filter((r) => r.vhost === 'apps');
    expect(refs).toEqual([
      {
        vhost: 'apps',
        exchange: 'orders.up',
        downstreamCluster: 'dc2',
        downstreamVhost: 'apps',
        downstreamExchange: 'orders',
      },
    ]);
    expect(federationQueueName(refs[0])).toBe('federation: orders.up -> dc2:orders');
  });
});
