import { createHash } from 'node:crypto';
import { isRec } from './codec';

/**
 * Users and vhost permissions (`/api/users/{name}`, `/api/permissions/{vhost}/{user}`) of the
 * link user, the least-privilege identity links use to reach a cluster.
 */

export const passwordHashingAlgorithm = 'rabbit_password_hashing_sha256';

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

export interface UserModel {
  passwordHash: string;
  /** Comma-separated management tags; the link user has none (no management API access). */
  tags: string;
}

export function encodeUser(m: UserModel): Record<string, unknown> {
  return {
    password_hash: m.passwordHash,
    hashing_algorithm: passwordHashingAlgorithm,
    tags: m.tags,
  };
}

/** `tags` is a list on 3.10+ and a comma-separated string before. */
export function decodeUser(value: unknown): UserModel {
  const v = isRec(value) ? value : {};
  const tags = Array.isArray(v.tags) ? v.tags.join(',') : typeof v.tags === 'string' ? v.tags : '';
  return { passwordHash: typeof v.password_hash === 'string' ? v.password_hash : '', tags };
}

export interface PermissionsModel {
  configure: string;
  write: string;
  read: string;
}

/** Federation needs its own `federation: ...` exchanges and queues; shovels only publish. */
export const linkUserPermissions: PermissionsModel = {
  configure: '^(federation: |amq\\.gen).*',
  write: '.*',
  read: '.*',
};

/** A literal name inside a permission regex: the same escapes for PCRE and JavaScript. */
export const regexLiteral = (name: string) => name.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');

/**
 * The link user's permissions in one vhost, derived from what the links there need: the base
 * (federation's own objects; publishing and consuming) plus configure on exactly the queues
 * links declare themselves as the link user (shovels with `declareDestination`).
 */
export function linkUserPermissionsFor(declares: string[]): PermissionsModel {
  const names = [...new Set(declares)].sort().map(regexLiteral);
  if (names.length === 0) return linkUserPermissions;
  return {
    ...linkUserPermissions,
    configure: `${linkUserPermissions.configure}|^(${names.join('|')})$`,
  };
}

/** Everything, in one vhost (crossdock's own probe vhost). */
export const fullPermissions: PermissionsModel = { configure: '.*', write: '.*', read: '.*' };

export function encodePermissions(m: PermissionsModel): PermissionsModel {
  return { configure: m.configure, write: m.write, read: m.read };
}

/** One permissions object (`vhost` set in listings), or undefined when it is not one. */
export function decodePermissions(
  value: unknown,
): (PermissionsModel & { vhost?: string }) | undefined {
  if (!isRec(value)) return undefined;
  const { vhost, configure, write, read } = value;
  if (typeof configure !== 'string' || typeof write !== 'string' || typeof read !== 'string')
    return undefined;
  return { configure, write, read, ...(typeof vhost === 'string' ? { vhost } : {}) };
}

export const samePermissions = (a: PermissionsModel | undefined, b: PermissionsModel) =>
  !!a && a.configure === b.configure && a.write === b.write && a.read === b.read;
