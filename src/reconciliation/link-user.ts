import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import { managementPaths } from '../broker-topology/broker-paths';
import {
  decodePermissions,
  decodeUser,
  encodePermissions,
  encodeUser,
  fullPermissions,
  linkUserPermissionsFor,
  samePermissions,
} from '../broker-topology/user.codec';
import { probeVhost } from '../probes/probe-topology';

export { rabbitPasswordHash } from '../broker-topology/user.codec';

/** crossdock's own probe vhost: the shovel probe declares its destination queue there. */
const permissionsFor = (vhost: string, declares: Record<string, string[]>) =>
  vhost === probeVhost ? fullPermissions : linkUserPermissionsFor(declares[vhost] ?? []);

export interface LinkUserResult {
  writes: number;
  requests: number;
}

/**
 * Makes the link user exist with exactly this password and these vhost permissions. Only
 * differences are written, so an unchanged pass costs reads only and never bounces a link.
 */
export async function ensureLinkUser(
  client: ManagementClient,
  username: string,
  passwordHash: string,
  vhosts: string[],
  /** Per vhost, the queues links declare there as the link user (configure on those names). */
  declares: Record<string, string[]> = {},
): Promise<LinkUserResult> {
  let writes = 0;
  let requests = 1;
  const raw = await client
    .get<unknown>(managementPaths.user(username))
    .catch((err: unknown) =>
      err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
    );
  const user = raw === undefined ? undefined : decodeUser(raw);
  if (!user || user.passwordHash !== passwordHash || user.tags !== '') {
    requests += 1;
    writes += 1;
    await client.put(managementPaths.user(username), encodeUser({ passwordHash, tags: '' }));
  }
  requests += 1;
  const listed = await client.get<unknown>(managementPaths.userPermissions(username));
  const perms = (Array.isArray(listed) ? listed : []).map(decodePermissions);
  for (const vhost of vhosts) {
    const p = perms.find((x) => x?.vhost === vhost);
    const want = permissionsFor(vhost, declares);
    if (!samePermissions(p, want)) {
      requests += 1;
      writes += 1;
      await client.put(managementPaths.permissions(vhost, username), encodePermissions(want));
    }
  }
  return { writes, requests };
}

/** Deletes a link user (and with it its permissions); a user already gone is fine. */
export async function deleteLinkUser(client: ManagementClient, username: string): Promise<void> {
  await client
    .delete(managementPaths.user(username))
    .catch((err: unknown) =>
      err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
    );
}

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
