import type { EntityManager } from 'typeorm';
import { ClusterEntity } from '../clusters/cluster.entity';
import type { SecretBox } from '../common/crypto/secret-box';
import { FederationLinkEntity } from '../links/federation-link.entity';
import { SiteEntity } from '../sites/site.entity';
import { compileCluster } from './compile';
import { loadSnapshot } from './registry-snapshot';

const DOWN = '00000000-0000-4000-8000-00000000000a';
const UP = '00000000-0000-4000-8000-00000000000b';

const tlsOf = (name: string) => ({
  caBundle: '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n',
  serverName: `${name}.example.net`,
  linkFiles: {
    caCertFile: '/etc/rabbitmq/tls/ca.pem',
    certFile: `/etc/rabbitmq/tls/${name}.pem`,
    keyFile: `/etc/rabbitmq/tls/${name}.key`,
  },
});

const clusterRow = (id: string, name: string) => ({
  id,
  siteId: `site-${name}`,
  name,
  brokerClusterName: name,
  vhosts: ['apps'],
  replication: [],
  linkEndpoints: [{ host: `${name}.example.net`, port: 5671 }],
  tls: tlsOf(name),
  lastObservation: { large: true },
});

/** Keeps only the selected columns, as TypeORM's `find({ select })` does. */
const project = (row: Record<string, unknown>, select?: Record<string, boolean>) =>
  select ? Object.fromEntries(Object.keys(select).map((k) => [k, row[k]])) : row;

/**
 * A manager holding two TLS clusters and one federation link between them. Query builders,
 * policies and overflow rules answer with what the link needs (or nothing).
 */
function fakeManager(): EntityManager {
  const clusters = [clusterRow(DOWN, 'down'), clusterRow(UP, 'up')];
  const link = {
    id: 'link-1',
    name: 'orders',
    kind: 'exchange',
    downstreamClusterId: DOWN,
    downstreamVhost: 'apps',
    upstreamClusterId: UP,
    upstreamVhost: 'apps',
    targets: ['orders'],
    targetPrefix: null,
    brokerUpstreamName: null,
    settings: {},
    paused: false,
  };
  const builder = (rows: unknown[]) => {
    const b = {
      where: () => b,
      orderBy: () => b,
      getMany: async () => rows,
    };
    return b;
  };
  const repos = new Map<unknown, unknown>([
    [
      ClusterEntity,
      {
        findOneByOrFail: async ({ id }: { id: string }) => clusters.find((c) => c.id === id),
        find: async ({ select }: { select?: Record<string, boolean> } = {}) =>
          clusters.map((c) => project(c, select)),
      },
    ],
    [
      SiteEntity,
      {
        find: async () =>
          clusters.map((c) => ({ id: c.siteId, loadBalancerHost: null, loadBalancerPort: null })),
      },
    ],
    [FederationLinkEntity, { createQueryBuilder: () => builder([link]) }],
  ]);
  return {
    getRepository: (entity: unknown) =>
      repos.get(entity) ?? { createQueryBuilder: () => builder([]) },
    query: async () => [],
  } as unknown as EntityManager;
}

describe('loadSnapshot', () => {
  it('carries every cluster’s TLS settings, so links to a TLS cluster compile to amqps:// with its verification parameters', async () => {
    const snapshot = await loadSnapshot(
      fakeManager(),
      {} as SecretBox,
      DOWN,
      { objects: [], requests: 0 },
      'crossdock-link',
      1_000_000,
      { placeholderCredentials: true },
    );
    expect(snapshot.clusters[UP].tls).toEqual({
      serverName: 'up.example.net',
      linkFiles: tlsOf('up').linkFiles,
    });
    // Only what link URIs need: not the observation (nor the CA bundle, crossdock's own copy).
    expect(snapshot.clusters[UP]).not.toHaveProperty('lastObservation');
    expect(snapshot.clusters[UP].tls).not.toHaveProperty('caBundle');

    const upstream = compileCluster(snapshot).objects.find((o) => o.kind === 'federation-upstream');
    expect((upstream?.value as { uri?: unknown } | undefined)?.uri).toEqual([
      'amqps://crossdock-link:placeholder@up.example.net:5671/apps?heartbeat=10&connection_timeout=10000' +
        '&cacertfile=/etc/rabbitmq/tls/ca.pem&certfile=/etc/rabbitmq/tls/down.pem' +
        '&keyfile=/etc/rabbitmq/tls/down.key&verify=verify_peer&server_name_indication=up.example.net',
    ]);
  });
});
