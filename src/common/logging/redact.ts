/**
 * The one secret scrubber, applied at every sink: log lines, problem responses, audit events,
 * reconcile runs and stored observations. It redacts credentials by their shape rather than only
 * by known values, in every encoding a broker or proxy may echo them:
 * - URIs with user information (`amqp://user:pw@`), also JSON-escaped (`amqp:\/\/user:pw@`),
 *   doubly escaped, or percent-encoded (`amqp%3A%2F%2Fuser%3Apw%40`);
 * - `Basic <base64 of user:password>` and `Bearer <token>` header values;
 * - `password=...`, `"password_hash":"..."` and similar key/value pairs inside free text;
 * - RabbitMQ password hashes on their own (base64 of salt + SHA-256, 48 characters);
 * - object keys that name a secret (`password`, `password_hash`, `authorization`, ...).
 *
 * Every pattern here has bounded repetitions and unambiguous alternatives, and every string is
 * cut at `maxRedactedLength` first, so the cost is linear in the input.
 */
export const redactedPlaceholder = '(redacted)';

/** Longer strings are cut before scanning (logs and stored records never need more). */
export const maxRedactedLength = 256 * 1024;

/** `:` then `//`, also as `\/\/` (JSON), `\\\/\\\/` (JSON of JSON) or `%3A%2F%2F`. */
const uriSeparator = /(?::|%3a)(?:\/\/|\\{1,3}\/\\{1,3}\/|%2f%2f)/gi;
/** How far past `://` the `@` of the user information may be. */
const maxUserInfo = 2048;

const maxBasicDecodes = 256;
const basicValue = /\b(basic)(\s{1,8}|%20|\+)([A-Za-z0-9+/_-]{6,4096}={0,2})/gi;
const bearerValue = /\b(bearer)(\s{1,8}|%20|\+)([A-Za-z0-9+/_.~-]{16,4096}={0,2})/gi;
/** A secret-named key inside text: JSON (also escaped), query strings, `key: value`. */
const secretPairInText =
  /(pass(?:word)?(?:_hash|hash|_enc)?|passwd|secret|api[_-]?key)(\\{0,3}["']?[ \t]{0,4}[:=][ \t]{0,4}\\{0,3}["']?)([^\s"'&,;}\\]{1,1024})/gi;
/** base64 of 4 salt bytes + a SHA-256/512 digest, as `GET /api/users` shows `password_hash`. */
const rabbitPasswordHash =
  /(?<![A-Za-z0-9+/])(?:[A-Za-z0-9+/]{48}|[A-Za-z0-9+/]{91}=)(?![A-Za-z0-9+/=])/g;

const secretKeys =
  /^(password|passwd|secret|token|authorization|proxy-authorization|cookie|uri|src-uri|dest-uri|key|encryptionkey|credentials?|admin_?password|set-cookie|x-api-key)$/i;
const secretKeyParts = /pass(word|wd|_hash|hash)|secret|authorization/i;
const uriKeys = /^(uri|src-uri|dest-uri)$/i;
const placeholderValue = /^\([a-z ]{1,20}\)$/;

function isUserInfoEnd(s: string, i: number): number {
  // Returns the length of the `@` form at i (1 or 3), 0 if not an `@`.
  if (s.charCodeAt(i) === 64) return 1;
  if (s.charCodeAt(i) === 37 && s.slice(i, i + 3).toLowerCase() === '%40') return 3;
  return 0;
}

function isAuthorityStop(s: string, i: number): boolean {
  const c = s[i];
  if (c === '/' || c === '"' || c === "'" || c === '<' || c === '>' || c === '`') return true;
  if (c === ' ' || c === '\t' || c === '\n' || c === '\r') return true;
  if (c === '\\') {
    // `\/` ends a JSON-escaped authority; `\"` may be part of an escaped password.
    // At most three backslashes (the escaping depths recognised), so a long run stays linear.
    let j = i + 1;
    while (j < i + 3 && s[j] === '\\') j++;
    return s[j] === '/';
  }
  // The next `%2F%2F` starts another URI: stop, so the scan per URI stays bounded by the input.
  return c === '%' && s.slice(i, i + 6).toLowerCase() === '%2f%2f';
}

/**
 * Calls `replace(password)` for each `scheme://user:password@` (any encoding above) and puts
 * its result in place of the password; everything else is kept. Linear: each scan stops at the
 * next `/`, which every separator form contains.
 */
export function mapUriPasswords(value: string, replace: (password: string) => string): string {
  if (!/:|%3a/i.test(value)) return value;
  let out = '';
  let last = 0;
  uriSeparator.lastIndex = 0;
  for (let m = uriSeparator.exec(value); m; m = uriSeparator.exec(value)) {
    const start = m.index + m[0].length;
    const limit = Math.min(value.length, start + maxUserInfo);
    let colon = -1;
    let colonLen = 0;
    let at = -1;
    let atLen = 0;
    for (let i = start; i < limit; i++) {
      const atForm = isUserInfoEnd(value, i);
      if (atForm) {
        at = i;
        atLen = atForm;
        break;
      }
      if (isAuthorityStop(value, i)) break;
      if (colon < 0) {
        if (value[i] === ':') {
          colon = i;
          colonLen = 1;
        } else if (value[i] === '%' && value.slice(i, i + 3).toLowerCase() === '%3a') {
          colon = i;
          colonLen = 3;
        }
      }
    }
    if (colon >= 0 && at > colon) {
      out += value.slice(last, colon + colonLen) + replace(value.slice(colon + colonLen, at));
      last = at;
      uriSeparator.lastIndex = at + atLen;
    } else if (colon >= 0 && at < 0 && limit - start === maxUserInfo) {
      // No `@` within the bound after a `user:`: too long to tell; hide up to where it ends.
      let end = limit;
      while (end < value.length && !isAuthorityStop(value, end) && !isUserInfoEnd(value, end))
        end++;
      out += value.slice(last, colon + colonLen) + redactedPlaceholder;
      last = end;
      uriSeparator.lastIndex = end;
    }
  }
  return last === 0 ? value : out + value.slice(last);
}

function looksLikeCredentials(base64: string): boolean {
  try {
    return Buffer.from(base64, 'base64').toString('latin1').includes(':');
  } catch {
    return false;
  }
}

/** Random base64 has all three; names and words of that length rarely do. */
function looksRandom(s: string): boolean {
  return /[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s);
}

export function redactString(input: string): string {
  let value = input.length > maxRedactedLength ? `${input.slice(0, maxRedactedLength)}...` : input;
  value = mapUriPasswords(value, (pw) => (placeholderValue.test(pw) ? pw : redactedPlaceholder));
  if (/basic/i.test(value)) {
    // Decoding is the costly part: past the first few hundred candidates in one string
    // (hostile or degenerate input), every candidate is redacted without looking.
    let decoded = 0;
    value = value.replace(basicValue, (m, scheme: string, sep: string, cred: string) =>
      decoded++ >= maxBasicDecodes || looksLikeCredentials(cred)
        ? `${scheme}${sep}${redactedPlaceholder}`
        : m,
    );
  }
  if (/bearer/i.test(value)) {
    value = value.replace(
      bearerValue,
      (_m, scheme: string, sep: string) => `${scheme}${sep}${redactedPlaceholder}`,
    );
  }
  if (/pass|secret|api.?key/i.test(value)) {
    value = value.replace(secretPairInText, (m, key: string, sep: string, v: string) =>
      placeholderValue.test(v) ? m : `${key}${sep}${redactedPlaceholder}`,
    );
  }
  if (value.length >= 48) {
    value = value.replace(rabbitPasswordHash, (m) => (looksRandom(m) ? redactedPlaceholder : m));
  }
  return value;
}

function isSecretKey(k: string): boolean {
  return secretKeys.test(k) || secretKeyParts.test(k);
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
      // Placeholders such as "(changed)" say that a secret changed without carrying it;
      // booleans and numbers (`passwordSet: true`, counts) carry none.
      const harmless =
        v === undefined ||
        v === null ||
        typeof v === 'boolean' ||
        typeof v === 'number' ||
        (typeof v === 'string' && placeholderValue.test(v));
      // `key` names a secret only when it holds a string (an object key {kind, vhost, name} is not).
      const objectKey = k.toLowerCase() === 'key' && typeof v === 'object';
      if (isSecretKey(k) && !harmless && !objectKey) {
        out[k] = typeof v === 'string' && uriKeys.test(k) ? redactString(v) : redactedPlaceholder;
      } else {
        out[k] = redactDeep(v, depth + 1);
      }
    }
    return out;
  }
  return value;
}

/**
 * Like `redactDeep` but without a depth cut-off that would lose structure (broker values are
 * nested deeper than log objects): every string is scrubbed and secret-named keys are hidden.
 */
export function redactValue<T>(value: T, depth = 0): T {
  if (depth > 32) return '(truncated)' as T;
  if (typeof value === 'string') return redactString(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1) as unknown) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const secret = secretKeyParts.test(k) && typeof v === 'string' && !placeholderValue.test(v);
      out[k] = secret ? redactedPlaceholder : redactValue(v, depth + 1);
    }
    return out as T;
  }
  return value;
}
