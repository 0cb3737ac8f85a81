import type { ClusterEntity } from './cluster.entity';
import type { ClusterView } from './clusters.dto';
import type { NodeView } from './nodes.dto';
import type { NodeEntity } from './node.entity';
import { replicationWarnings } from './replication';
import { unboundEndpoints } from './credential-binding';

export function nodeView(n: NodeEntity): NodeView {
  return {
    id: n.id,
    clusterId: n.clusterId,
    name: n.name,
    host: n.host,
    amqpPort: n.amqpPort,
    managementPort: n.managementPort,
    type: n.type,
    version: n.version,
  };
}

/** The API shape of a cluster: no password, not even encrypted. */
export function clusterView(c: ClusterEntity, nodes: NodeEntity[]): ClusterView {
  return {
    id: c.id,
    siteId: c.siteId,
    name: c.name,
    brokerClusterName: c.brokerClusterName,
    managementScheme: c.managementScheme,
    linkEndpoints: c.linkEndpoints,
    vhosts: c.vhosts,
    adminUsername: c.adminUsername,
    credentialsVersion: c.credentialsVersion,
    credentialsRebindRequired: unboundEndpoints(c, nodes).length > 0,
    replication: c.replication,
    partitionHandling: c.partitionHandling,
    nodes: nodes.map(nodeView),
    tls: c.tls
      ? {
          caBundle: c.tls.caBundle,
          serverName: c.tls.serverName,
          clientCertificate: c.tls.clientCertificate,
          clientKeySet: c.tls.clientCertificate !== null,
          linkFiles: c.tls.linkFiles,
        }
      : null,
    brokerVersion: c.brokerVersion,
    observedAt: c.observedAt?.toISOString() ?? null,
    warnings: replicationWarnings(c.replication),
    deleteBlocked: c.deleteBlocked ?? null,
    version: c.version,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}
