/**
 * Secret scrubbing shared by logs, errors and audit records. Passwords may hide in URIs
 * (amqp://user:pass@host), in objects under well-known keys, and in raw broker payloads.
 */
// Bounded repetitions: an unbounded form backtracks quadratically on long hostile strings.
const credentialInUri = /([a-z][a-z0-9+.-]{0,31}:\/\/)([^\s/@:]{0,256}):([^\s/@]{0,1024})@/gi;
const secretKeys =
  /^(password|passwd|secret|token|authorization|cookie|uri|src-uri|dest-uri|key|encryptionkey|credentials?|admin_?password|set-cookie|x-api-key)$/i;

export const redactedPlaceholder = '(redacted)';

export function redactString(value: string): string {
  if (!value.includes('://')) return value;
  return value.replace(
    credentialInUri,
    (_m, scheme: string, user: string) => `${scheme}${user}:${redactedPlaceholder}@`,
  );
}

/** Deep copy with secret-looking keys replaced and credentials stripped from every string. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > 8) return '(truncated)';
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value instanceof Error) {
    return {
      type: value.name,
      message: redactString(value.message),
      stack: value.stack && redactString(value.stack),
    };
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // Placeholders such as "(changed)" say that a secret changed without carrying it.
      const placeholder = typeof v === 'string' && /^\([a-z ]{1,20}\)$/.test(v);
      // `key` names a secret only when it holds a string (an object key {kind, vhost, name} is not).
      const objectKey = k.toLowerCase() === 'key' && typeof v === 'object';
      if (secretKeys.test(k) && v !== undefined && v !== null && !placeholder && !objectKey) {
        out[k] =
          typeof v === 'string' && /^(uri|src-uri|dest-uri)$/i.test(k)
            ? redactString(v)
            : redactedPlaceholder;
      } else {
        out[k] = redactDeep(v, depth + 1);
      }
    }
    return out;
  }
  return value;
}
