import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import { managementPaths } from '../broker-topology/broker-paths';
import {
  decodePermissions,
  encodePermissions,
  fullPermissions,
  samePermissions,
} from '../broker-topology/user.codec';
import { probeVhost } from '../probes/probe-topology';

/**
 * crossdock's probe vhost exists and its own management user may use it (a vhost created over
 * the HTTP API grants nobody anything). Reads first; writes only what is missing.
 */
export async function ensureProbeVhost(
  client: ManagementClient,
  adminUser: string,
): Promise<{ writes: number }> {
  let writes = 0;
  const vhost = await client
    .get<{ name: string }>(managementPaths.vhost(probeVhost))
    .catch((err: unknown) =>
      err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
    );
  if (!vhost) {
    await client.put(managementPaths.vhost(probeVhost), {
      description: 'crossdock lag probes (managed by crossdock: no user objects here)',
    });
    writes += 1;
  }
  const perm = await client
    .get<unknown>(managementPaths.permissions(probeVhost, adminUser))
    .catch((err: unknown) =>
      err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
    );
  if (!samePermissions(perm === undefined ? undefined : decodePermissions(perm), fullPermissions)) {
    await client.put(
      managementPaths.permissions(probeVhost, adminUser),
      encodePermissions(fullPermissions),
    );
    writes += 1;
  }
  return { writes };
}
