import { randomBytes } from 'node:crypto';
import { SecretBox, SecretBoxError } from './secret-box';

const key = () => randomBytes(32).toString('base64');

describe('SecretBox', () => {
  it('round-trips and never stores the plaintext', () => {
    const box = new SecretBox(key());
    const sealed = box.encrypt('s3cret-pass', 'cluster-1');
    expect(sealed).not.toContain('s3cret-pass');
    expect(box.decrypt(sealed, 'cluster-1')).toBe('s3cret-pass');
  });

  it('binds the ciphertext to its row (associated data)', () => {
    const box = new SecretBox(key());
    const sealed = box.encrypt('pw', 'cluster-1');
    expect(() => box.decrypt(sealed, 'cluster-2')).toThrow(SecretBoxError);
  });

  it('detects tampering', () => {
    const box = new SecretBox(key());
    const parts = box.encrypt('pw').split(':');
    parts[4] = Buffer.from('xx').toString('base64');
    expect(() => box.decrypt(parts.join(':'))).toThrow(/failed authentication/);
  });

  it('refuses a truncated tag (GCM tag length pinned to 16 bytes)', () => {
    const box = new SecretBox(key());
    const parts = box.encrypt('pw', 'cluster-1').split(':');
    expect(Buffer.from(parts[3], 'base64')).toHaveLength(16);
    for (const len of [4, 8, 12, 15]) {
      // The first bytes of the genuine tag: GCM without a pinned length would accept them.
      const cut = [...parts];
      cut[3] = Buffer.from(parts[3], 'base64').subarray(0, len).toString('base64');
      expect(() => box.decrypt(cut.join(':'), 'cluster-1')).toThrow(/failed authentication/);
    }
  });

  it('reads values sealed with a previous key during rotation', () => {
    const oldKey = key();
    const sealed = new SecretBox(oldKey).encrypt('pw');
    const rotated = new SecretBox(key(), [oldKey]);
    expect(rotated.decrypt(sealed)).toBe('pw');
    expect(rotated.needsRotation(sealed)).toBe(true);
    expect(rotated.needsRotation(rotated.encrypt('pw'))).toBe(false);
    expect(() => new SecretBox(key()).decrypt(sealed)).toThrow(/not configured/);
  });

  it('rejects keys of the wrong size without echoing them', () => {
    expect(() => new SecretBox(Buffer.from('short').toString('base64'))).toThrow(
      'encryption key must be 32 bytes',
    );
  });
});
