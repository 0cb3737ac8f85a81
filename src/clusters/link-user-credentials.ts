import { randomBytes } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { SecretBox } from '../common/crypto/secret-box';
import {
  lockActiveSlot,
  sealedSlot,
  writeSealedSlot,
  type LinkUserSlot,
} from './link-users.repository';

export { slotColumns, type LinkUserSlot } from './link-users.repository';

/**
 * The link user's credentials of a cluster (the least-privilege user other clusters' URIs
 * carry). Two slots alternate so a password can be rotated without breaking links: slot `a` is
 * `<LINK_USER_NAME>`, slot `b` is `<LINK_USER_NAME>-b`; `clusters.link_user_slot` names the one
 * URIs use. Passwords are sealed with the cluster id and slot as associated data.
 */
export interface LinkUserSecret {
  password: string;
  salt: string;
}

export interface LinkCredential extends LinkUserSecret {
  slot: LinkUserSlot;
  username: string;
}

export const otherSlot = (slot: LinkUserSlot): LinkUserSlot => (slot === 'a' ? 'b' : 'a');

export const linkUsername = (base: string, slot: LinkUserSlot): string =>
  slot === 'a' ? base : `${base}-b`;

export const newSalt = (): string => randomBytes(4).toString('hex');
export const newLinkPassword = (): string => randomBytes(24).toString('base64url');

export const linkUserAad = (clusterId: string, slot: LinkUserSlot): string =>
  slot === 'a' ? `link-user:${clusterId}` : `link-user:${clusterId}:b`;

/** A slot's secret, or undefined when the slot holds none. */
export async function readSlotSecret(
  m: EntityManager,
  box: SecretBox,
  clusterId: string,
  slot: LinkUserSlot,
): Promise<LinkUserSecret | undefined> {
  const row = await sealedSlot(m, clusterId, slot);
  if (!row?.enc || !row.salt) return undefined;
  return { password: box.decrypt(row.enc, linkUserAad(clusterId, slot)), salt: row.salt };
}

/** Seals `secret` into a slot (null empties it). */
export async function writeSlotSecret(
  m: EntityManager,
  box: SecretBox,
  clusterId: string,
  slot: LinkUserSlot,
  secret: LinkUserSecret | null,
): Promise<void> {
  await writeSealedSlot(
    m,
    clusterId,
    slot,
    secret ? box.encrypt(secret.password, linkUserAad(clusterId, slot)) : null,
    secret?.salt ?? null,
  );
}

/** The credential other clusters' URIs carry now (the active slot), created on first need. */
export async function activeLinkCredential(
  ds: DataSource,
  box: SecretBox,
  clusterId: string,
  baseUsername: string,
): Promise<LinkCredential> {
  return ds.transaction(async (m) => {
    const slot = await lockActiveSlot(m, clusterId);
    if (!slot) throw new Error(`cluster ${clusterId} vanished`);
    let secret = await readSlotSecret(m, box, clusterId, slot);
    if (!secret) {
      secret = { password: newLinkPassword(), salt: newSalt() };
      await writeSlotSecret(m, box, clusterId, slot, secret);
    }
    return { ...secret, slot, username: linkUsername(baseUsername, slot) };
  });
}
