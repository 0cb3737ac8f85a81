import type { DataSource } from 'typeorm';
import {
  encodePermissionValue,
  encodeUserValue,
  encodeVhost,
  permissionKey,
  userKey,
  vhostKey,
} from '../broker-topology/access.codec';
import { managementPaths, objectId } from '../broker-topology/broker-paths';
import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import {
  decodePermissions,
  fullPermissions,
  linkUserPermissionsFor,
  rabbitPasswordHash,
} from '../broker-topology/user.codec';
import type { ClusterEntity } from '../clusters/cluster.entity';
import { activeLinkCredential, readSlotSecret } from '../clusters/link-user-credentials';
import type { SecretBox } from '../common/crypto/secret-box';
import { probeVhost } from '../probes/probe-topology';
import { objectKinds, type DesiredObject, type ObservedObject, type PlanOp } from './broker-state';
import { canonicalText, redactBrokerValue } from './canonical';
import { unfinishedRotation } from './rotation.repository';
import { declaredByLinks, isLinkTarget } from './registry-snapshot';

/**
 * The access part of a cluster's plan: crossdock's probe vhost and its own user's permission
 * there, and the link users (the active slot's, plus the other slot's during a rotation) with
 * their permissions in every vhost links reach. A pass compiles them, observes exactly these
 * (a constant number of reads), and writes what differs as plan operations, before the objects
 * that use them. Nothing here is ever deleted by a pass: the rotation retires its previous user
 * with a targeted operation through the same apply path.
 */

export interface LinkUserWant {
  username: string;
  passwordHash: string;
  /** Per vhost, the permissions the user needs there. */
  vhosts: string[];
  declares: Record<string, string[]>;
}

export interface AccessWant {
  /** crossdock's own management user on this cluster, when the probe vhost is needed. */
  probeAdmin?: string;
  users: LinkUserWant[];
}

/** The probe vhost is crossdock's own: every permission there, for the link user as well. */
const permissionsFor = (vhost: string, declares: Record<string, string[]>) =>
  vhost === probeVhost ? fullPermissions : linkUserPermissionsFor(declares[vhost] ?? []);

/** What the cluster's access objects should be, from the registry (reads only). */
export async function loadAccessWant(
  d: { ds: DataSource; box: SecretBox; baseUsername: string },
  cluster: Pick<ClusterEntity, 'id'>,
  adminUser: string,
  /** The plan has objects in the probe vhost. */
  probeObjects: boolean,
): Promise<AccessWant> {
  const vhosts = [...new Set(await isLinkTarget(d.ds, cluster.id))];
  const want: AccessWant = {
    ...(probeObjects || vhosts.includes(probeVhost) ? { probeAdmin: adminUser } : {}),
    users: [],
  };
  if (vhosts.length === 0) return want;
  const declares = await declaredByLinks(d.ds, cluster.id);
  const add = (cred: { username: string; password: string; salt: string }) => {
    if (want.users.some((u) => u.username === cred.username)) return;
    want.users.push({
      username: cred.username,
      passwordHash: rabbitPasswordHash(cred.password, cred.salt),
      vhosts,
      declares,
    });
  };
  add(await activeLinkCredential(d.ds, d.box, cluster.id, d.baseUsername));
  const rotation = await unfinishedRotation(d.ds, cluster.id);
  if (rotation) {
    // Verifying: the new slot's user is written before its logins are proven. Switching: the
    // previous user stays until nobody needs it (the rotation retires it).
    const slot = rotation.status === 'verifying' ? rotation.to_slot : rotation.from_slot;
    const username =
      rotation.status === 'verifying' ? rotation.to_username : rotation.from_username;
    const secret = await readSlotSecret(d.ds.manager, d.box, cluster.id, slot);
    if (secret) add({ ...secret, username });
  }
  return want;
}

/** The desired access objects (owner `cluster:<id>`). */
export function compileAccess(clusterId: string, want: AccessWant): DesiredObject[] {
  const owner = `cluster:${clusterId}`;
  const out: DesiredObject[] = [];
  if (want.probeAdmin !== undefined) {
    out.push({
      ...vhostKey(probeVhost),
      value: encodeVhost('crossdock lag probes (managed by crossdock: no user objects here)'),
      owner,
    });
    out.push({
      ...permissionKey(probeVhost, want.probeAdmin),
      value: encodePermissionValue(fullPermissions),
      owner,
    });
  }
  for (const u of want.users) {
    out.push({
      ...userKey(u.username),
      value: encodeUserValue({ passwordHash: u.passwordHash, tags: '' }),
      owner,
    });
    for (const vhost of u.vhosts)
      out.push({
        ...permissionKey(vhost, u.username),
        value: encodePermissionValue(permissionsFor(vhost, u.declares)),
        owner,
      });
  }
  return out;
}

const orUndefined = <T>(p: Promise<T>): Promise<T | undefined> =>
  p.catch((err: unknown) => (err instanceof BrokerNotFoundError ? undefined : Promise.reject(err)));

/**
 * The broker's side of `want`: at most two reads for the probe vhost and two per link user
 * (the user, then its permissions in every vhost), whatever the number of vhosts.
 */
export async function observeAccess(
  client: Pick<ManagementClient, 'get'>,
  want: AccessWant,
): Promise<{ objects: ObservedObject[]; requests: number }> {
  const objects: ObservedObject[] = [];
  let requests = 0;
  if (want.probeAdmin !== undefined) {
    requests += 2;
    const [vhost, perm] = await Promise.all([
      orUndefined(client.get<unknown>(managementPaths.vhost(probeVhost))),
      orUndefined(client.get<unknown>(managementPaths.permissions(probeVhost, want.probeAdmin))),
    ]);
    if (vhost !== undefined) objects.push({ ...vhostKey(probeVhost), value: {} });
    const p = perm === undefined ? undefined : decodePermissions(perm);
    if (p)
      objects.push({
        ...permissionKey(probeVhost, want.probeAdmin),
        value: encodePermissionValue(p),
      });
  }
  for (const u of want.users) {
    requests += 1;
    const user = await orUndefined(client.get<unknown>(managementPaths.user(u.username)));
    if (user === undefined) continue;
    objects.push({ ...userKey(u.username), value: user as Record<string, unknown> });
    requests += 1;
    const listed = await orUndefined(
      client.get<unknown>(managementPaths.userPermissions(u.username)),
    );
    for (const raw of Array.isArray(listed) ? listed : []) {
      const p = decodePermissions(raw);
      if (p?.vhost !== undefined)
        objects.push({ ...permissionKey(p.vhost, u.username), value: encodePermissionValue(p) });
    }
  }
  return { objects, requests };
}

const hidden = '(redacted)';

/**
 * Pure: creates and updates that bring the observed access objects to the desired ones. A
 * user's password hash is written, never shown: its changes name the field only.
 */
export function diffAccess(
  desired: readonly DesiredObject[],
  observed: readonly ObservedObject[],
): PlanOp[] {
  const seen = new Map(observed.map((o) => [objectId(o), o]));
  const ops: PlanOp[] = [];
  for (const d of desired) {
    const key = { kind: d.kind, vhost: d.vhost, name: d.name };
    const o = seen.get(objectId(d));
    if (!o) {
      ops.push({ op: 'create', key, after: d.value, owner: d.owner });
      continue;
    }
    if (canonicalText(d.kind, o.value) === canonicalText(d.kind, d.value)) continue;
    const before = JSON.parse(canonicalText(d.kind, o.value)) as Record<string, unknown>;
    const after = JSON.parse(canonicalText(d.kind, d.value)) as Record<string, unknown>;
    const changes = Object.keys({ ...before, ...after })
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
      .sort()
      .map((path) =>
        d.kind === 'user' && path === 'password_hash'
          ? { path, before: hidden, after: hidden }
          : {
              path,
              before: redactBrokerValue(before[path]),
              after: redactBrokerValue(after[path]),
            },
      );
    ops.push({ op: 'update', key, before: o.value, after: d.value, owner: d.owner, changes });
  }
  // In apply order, as a pass lists its operations.
  const at = (op: PlanOp) => objectKinds.indexOf(op.key.kind);
  return ops
    .map((op, i) => ({ op, i }))
    .sort((a, b) => at(a.op) - at(b.op) || a.i - b.i)
    .map(({ op }) => op);
}
