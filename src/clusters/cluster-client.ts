import { ManagementClient } from '../broker/management-client';
import type { ManagementClientOptions } from '../broker/management.types';
import type { ClusterAccess } from './clusters.service';

/** A management client for a registered cluster: every node is a failover endpoint. */
export function managementClientFor(
  access: ClusterAccess,
  timeoutMs: number,
  extra: Pick<ManagementClientOptions, 'writeGuard'> = {},
): ManagementClient {
  return new ManagementClient({
    nodes: access.nodes.map((n) => ({
      name: n.name,
      host: n.host,
      managementPort: n.managementPort,
    })),
    scheme: access.cluster.managementScheme,
    username: access.username,
    password: access.password,
    timeoutMs,
    networks: access.networks,
    tls: access.tls,
    ...extra,
  });
}
