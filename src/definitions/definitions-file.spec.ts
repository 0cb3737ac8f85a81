import { compileCluster, type RegistrySnapshot } from '../reconciliation/compile';
import { objectId } from '../broker-topology/broker-paths';
import { definitionsFile, definitionsKeys } from './definitions-file';

const snapshot = (): RegistrySnapshot => ({
  cluster: { id: 'c2', siteId: 's2', vhosts: ['v'], replication: [] },
  clusters: {
    c1: {
      id: 'c1',
      siteId: 's1',
      brokerClusterName: 'dc1',
      linkEndpoints: [{ host: 'dc1.link', port: 5672 }],
    },
    c2: {
      id: 'c2',
      siteId: 's2',
      brokerClusterName: 'dc2',
      linkEndpoints: [{ host: 'dc2.link', port: 5672 }],
    },
  },
  sites: { s1: { id: 's1', loadBalancer: null }, s2: { id: 's2', loadBalancer: null } },
  linkCredentials: { c1: { username: 'crossdock-link', password: '(link-user-password)' } },
  federationLinks: [
    {
      id: 'l1',
      name: 'events',
      kind: 'exchange',
      downstreamClusterId: 'c2',
      downstreamVhost: 'v',
      upstreamClusterId: 'c1',
      upstreamVhost: 'v',
      targets: ['events'],
      targetPrefix: null,
      settings: {},
      paused: false,
    },
  ],
  shovels: [
    {
      id: 's1',
      name: 'outbox',
      sourceClusterId: 'c2',
      sourceVhost: 'v',
      sourceQueue: 'outbox',
      sourceExchange: null,
      sourceExchangeKey: null,
      destinationClusterId: 'c1',
      destinationVhost: 'v',
      destinationQueue: 'inbox',
      destinationExchange: null,
      destinationExchangeKey: null,
      settings: {},
      paused: false,
    },
  ],
  policies: [
    {
      id: 'p1',
      name: 'limits',
      vhost: 'v',
      pattern: '^orders\\.',
      applyTo: 'queues',
      priority: 0,
      definition: { 'max-length': 5 },
    },
  ],
  known: {},
  federationQueueMaxBytes: 1000,
});

describe('definitionsFile', () => {
  it('holds every compiled object, in the broker definitions shape, with explicit defaults', () => {
    const desired = compileCluster(snapshot());
    const file = definitionsFile(desired);
    expect(definitionsKeys(file)).toEqual(desired.objects.map((o) => objectId(o)).sort());
    expect(file.vhosts).toEqual([{ name: 'crossdock.probe' }, { name: 'v' }]);
    expect(file.users).toEqual([]);
    expect(file.parameters.map((p) => [p.component, p.vhost, p.name])).toEqual(
      expect.arrayContaining([
        ['federation-upstream', 'v', 'crossdock.up.events'],
        ['shovel', 'v', 'crossdock.sh.outbox'],
      ]),
    );
    const probeQueues = file.queues.filter((q) => q.vhost === 'crossdock.probe');
    for (const q of probeQueues)
      expect(q).toMatchObject({ durable: expect.any(Boolean), auto_delete: expect.any(Boolean) });
    for (const p of file.policies)
      expect(p).toEqual(
        expect.objectContaining({
          pattern: expect.any(String),
          'apply-to': expect.any(String),
          priority: expect.any(Number),
        }),
      );
    for (const b of file.bindings) expect(['queue', 'exchange']).toContain(b.destination_type);
    expect(JSON.stringify(file)).toContain('crossdock-link:(link-user-password)@dc1.link:5672');
  });
});
