import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import { managementPaths } from '../broker-topology/broker-paths';

export { rabbitPasswordHash } from '../broker-topology/user.codec';

export interface BrokerConnection {
  name: string;
  user?: string;
  /** The client's `connection_name` (federation: `Federation link (upstream: ..., policy: ...)`). */
  user_provided_name?: string;
}

/**
 * Connections on this cluster that logged in as `username`. The per-user listing is cheap but
 * carries no client-given names (3.10: name, vhost, user, node), so the names come from the
 * full listing, only when there is something to name.
 */
export async function connectionsOf(
  client: ManagementClient,
  username: string,
): Promise<BrokerConnection[]> {
  const some = await client
    .get<BrokerConnection[]>(managementPaths.connectionsOf(username))
    .catch((err: unknown) => (err instanceof BrokerNotFoundError ? [] : Promise.reject(err)));
  if (!Array.isArray(some) || some.length === 0) return [];
  const all = await client.get<BrokerConnection[]>(managementPaths.connections, {
    query: { columns: 'name,user,user_provided_name' },
  });
  const named = Array.isArray(all) ? all.filter((c) => c.user === username) : [];
  return named.length ? named : some;
}
