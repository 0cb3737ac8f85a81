import { createHash } from 'node:crypto';
import { apiPath } from '../broker/management-client';
import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import { probeVhost } from '../probes/probe-topology';

/**
 * RabbitMQ's rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)). With the
 * salt kept, the hash is deterministic, so a pass can compare it and write only on change.
 */
export function rabbitPasswordHash(password: string, saltHex: string): string {
  const salt = Buffer.from(saltHex, 'hex');
  return Buffer.concat([
    salt,
    createHash('sha256')
      .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
      .digest(),
  ]).toString('base64');
}

/** Federation needs its own `federation: ...` exchanges and queues; shovels only publish. */
export const linkUserPermissions = {
  configure: '^(federation: |amq\\.gen).*',
  write: '.*',
  read: '.*',
};

/** crossdock's own probe vhost: the shovel probe declares its destination queue there. */
export const probeVhostPermissions = { configure: '.*', write: '.*', read: '.*' };

const permissionsFor = (vhost: string) =>
  vhost === probeVhost ? probeVhostPermissions : linkUserPermissions;

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
): Promise<LinkUserResult> {
  let writes = 0;
  let requests = 1;
  const user = await client
    .get<{ password_hash?: string; tags?: unknown }>(apiPath`/api/users/${username}`)
    .catch((err: unknown) =>
      err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
    );
  const tags = Array.isArray(user?.tags) ? user?.tags.join(',') : (user?.tags ?? '');
  if (!user || user.password_hash !== passwordHash || tags !== '') {
    requests += 1;
    writes += 1;
    await client.put(apiPath`/api/users/${username}`, {
      password_hash: passwordHash,
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: '',
    });
  }
  requests += 1;
  const perms = await client.get<
    { vhost: string; configure: string; write: string; read: string }[]
  >(apiPath`/api/users/${username}/permissions`);
  for (const vhost of vhosts) {
    const p = perms.find((x) => x.vhost === vhost);
    const want = permissionsFor(vhost);
    if (!p || p.configure !== want.configure || p.write !== want.write || p.read !== want.read) {
      requests += 1;
      writes += 1;
      await client.put(apiPath`/api/permissions/${vhost}/${username}`, want);
    }
  }
  return { writes, requests };
}

/** Deletes a link user (and with it its permissions); a user already gone is fine. */
export async function deleteLinkUser(client: ManagementClient, username: string): Promise<void> {
  await client
    .delete(apiPath`/api/users/${username}`)
    .catch((err: unknown) =>
      err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
    );
}
