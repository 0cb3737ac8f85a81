import { createHash, randomBytes } from 'node:crypto';

/** `cdk_<8 hex prefix>_<43 chars of entropy>`: the prefix identifies a token in lists and logs. */
export function newTokenSecret(): { secret: string; prefix: string } {
  const prefix = randomBytes(4).toString('hex');
  return {
    secret: `cdk_${prefix}_${randomBytes(32).toString('base64url')}`,
    prefix: `cdk_${prefix}`,
  };
}

export function hashToken(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}
