import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** Thrown when a stored secret cannot be decrypted with any configured key. */
export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** GCM tag length in bytes, pinned on both sides. */
const tagBytes = 16;

function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/**
 * AES-256-GCM for broker credentials at rest. Ciphertexts name the key that made them
 * (`v1:<keyId>:<iv>:<tag>:<data>`), so keys can rotate: new writes use the current key, reads
 * accept the previous ones until `npm run reencrypt` has rewritten every row.
 */
export class SecretBox {
  private readonly current: { id: string; key: Buffer };
  private readonly keys = new Map<string, Buffer>();

  constructor(currentKeyB64: string, previousKeysB64: string[] = []) {
    const current = Buffer.from(currentKeyB64, 'base64');
    if (current.length !== 32) throw new SecretBoxError('encryption key must be 32 bytes');
    this.current = { id: keyId(current), key: current };
    for (const k of [currentKeyB64, ...previousKeysB64]) {
      const buf = Buffer.from(k, 'base64');
      if (buf.length !== 32) throw new SecretBoxError('encryption key must be 32 bytes');
      this.keys.set(keyId(buf), buf);
    }
  }

  get currentKeyId(): string {
    return this.current.id;
  }

  encrypt(plain: string, associatedData = ''): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv, { authTagLength: tagBytes });
    cipher.setAAD(Buffer.from(associatedData));
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      'v1',
      this.current.id,
      iv.toString('base64'),
      tag.toString('base64'),
      data.toString('base64'),
    ].join(':');
  }

  decrypt(sealed: string, associatedData = ''): string {
    const [v, id, iv, tag, data] = sealed.split(':');
    if (v !== 'v1' || !id || iv === undefined || tag === undefined || data === undefined) {
      throw new SecretBoxError('stored secret has an unknown format');
    }
    const key = this.keys.get(id);
    if (!key)
      throw new SecretBoxError(`stored secret was sealed with key ${id}, which is not configured`);
    const tagBuf = Buffer.from(tag, 'base64');
    // GCM accepts tags as short as 4 bytes unless told otherwise: a truncated tag is forgeable.
    if (tagBuf.length !== tagBytes) {
      throw new SecretBoxError('stored secret failed authentication (wrong key or tampered)');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'), {
        authTagLength: tagBytes,
      });
      decipher.setAAD(Buffer.from(associatedData));
      decipher.setAuthTag(tagBuf);
      return Buffer.concat([
        decipher.update(Buffer.from(data, 'base64')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SecretBoxError('stored secret failed authentication (wrong key or tampered)');
    }
  }

  /** True when the value was sealed with a key other than the current one. */
  needsRotation(sealed: string): boolean {
    return sealed.split(':')[1] !== this.current.id;
  }
}
