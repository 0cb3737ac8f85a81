import { apiPath, type ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import { probeVhost } from '../probes/probe-topology';

const full = { configure: '.*', write: '.*', read: '.*' };

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
    .get<{ name: string }>(apiPath`/api/vhosts/${probeVhost}`)
    .catch((err: unknown) =>
      err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
    );
  if (!vhost) {
    await client.put(apiPath`/api/vhosts/${probeVhost}`, {
      description: 'crossdock lag probes (managed by crossdock: no user objects here)',
    });
    writes += 1;
  }
  const perm = await client
    .get<typeof full>(apiPath`/api/permissions/${probeVhost}/${adminUser}`)
    .catch((err: unknown) =>
      err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
    );
  if (
    !perm ||
    perm.configure !== full.configure ||
    perm.write !== full.write ||
    perm.read !== full.read
  ) {
    await client.put(apiPath`/api/permissions/${probeVhost}/${adminUser}`, full);
    writes += 1;
  }
  return { writes };
}
