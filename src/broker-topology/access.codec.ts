import { isRec } from './codec';
import type { AccessKind, BrokerValue, ObjectKey } from './object-kinds';
import { decodePermissions, decodeUser, encodePermissions, encodeUser } from './user.codec';
import type { PermissionsModel, UserModel } from './user.codec';

/**
 * The access objects crossdock writes (`/api/vhosts/{name}`, `/api/users/{name}`,
 * `/api/permissions/{vhost}/{user}`) as plan objects: their keys, their values, and what of a
 * value counts when a pass compares it with the broker's.
 */

export const vhostKey = (name: string): ObjectKey => ({ kind: 'vhost', vhost: name, name });
export const userKey = (name: string): ObjectKey => ({ kind: 'user', vhost: '', name });
export const permissionKey = (vhost: string, user: string): ObjectKey => ({
  kind: 'permission',
  vhost,
  name: user,
});

/** A vhost crossdock creates; an existing vhost is left as it is (its description included). */
export const encodeVhost = (description: string): BrokerValue => ({ description });

export const encodeUserValue = (m: UserModel): BrokerValue => encodeUser(m);
export const encodePermissionValue = (m: PermissionsModel): BrokerValue => ({
  ...encodePermissions(m),
});

/**
 * What a pass compares: a vhost that exists is as wanted; a user by its password hash and tags
 * (the broker lists tags as a list on 3.10+, a string before; the hashing algorithm is the one
 * crossdock writes); permissions by their three patterns.
 */
export function accessCanonical(kind: AccessKind, value: unknown): Record<string, unknown> {
  switch (kind) {
    case 'vhost':
      return {};
    case 'user': {
      const u = decodeUser(value);
      return { password_hash: u.passwordHash, tags: u.tags };
    }
    case 'permission': {
      const p = decodePermissions(value);
      return p ? { ...encodePermissions(p) } : isRec(value) ? { invalid: true } : {};
    }
  }
}
