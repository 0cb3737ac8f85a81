import { managementClient, type ManagementOptions } from '../broker/broker-gateway';
import type { ManagementClient } from '../broker/management-client';
import type { ClusterAccess } from './cluster-access.service';

/**
 * A management client for a registered cluster: every node is a failover endpoint. Code that
 * runs under Nest injects `BrokerGateway` instead; this stays for callers not yet moved to it.
 */
export function managementClientFor(
  access: ClusterAccess,
  timeoutMs: number,
  extra: ManagementOptions = {},
): ManagementClient {
  return managementClient(access, timeoutMs, extra);
}
