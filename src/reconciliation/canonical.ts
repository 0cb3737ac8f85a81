import { canonicalJson } from '../audit/canonical-json';
import { accessCanonical } from '../broker-topology/access.codec';
import { policyDefaults as brokerPolicyDefaults } from '../broker-topology/policy.codec';
import { mapUriPasswords, redactValue, redactedPlaceholder } from '../common/logging/redact';
import type { BrokerValue, ObjectKind } from './broker-state';

/**
 * Canonical forms, so that values the broker treats as the same compare equal and a no-change
 * pass writes nothing (re-PUTting a parameter restarts its link or shovel, trap 3.4 and 3.13).
 *
 * What is normalised, and why (3.10.8, measured):
 * - key order never matters; `undefined` members are dropped (JSON has none);
 * - `uri` (upstream), `src-uri` and `dest-uri` (shovel): a string and a one-element list are the
 *   same, and a list is a pool picked from at random per connection attempt, so its order does not
 *   matter either: canonically a sorted list (duplicates kept: they weight the random pick);
 * - upstream-set members are compared as a multiset: the federation plugin starts one link per
 *   member whatever its position, so reordering alone must not cause a write (any write restarts
 *   every link of the set);
 * - policy `apply-to` defaults to `all` and `priority` to 0 (the broker echoes both);
 * - exchange `durable` true, `auto_delete` false, `internal` false, `arguments` {}; queue
 *   `durable` true, `auto_delete` false, `arguments` {} (with `x-queue-type: classic`, the
 *   default type, dropped); binding `arguments` {}. These are crossdock's defaults, not the
 *   broker's: a PUT that omits `durable` creates a NON-durable exchange or queue, which is why
 *   `writeValue` always sends them explicitly;
 * - numbers: `1000` and `1000.0` (echoed by the broker as `1.0e3`) are the same JS number once
 *   parsed, so they compare equal. Strings are never coerced to numbers or booleans: the broker
 *   rejects `"1000"` for every numeric key (prefetch-count, expires, max-hops, message-ttl,
 *   reconnect-delay, src-prefetch-count, src-delete-after, policy priority, max-length) and
 *   `"true"` for boolean ones, so a string is a different (invalid) value, not an equal one.
 *   Queue arguments are the one place where 1000 vs 1000.0 differ for the broker (long vs
 *   double: "inequivalent arg"); JSON.stringify never writes `1000.0`, so crossdock cannot send
 *   the double by accident.
 * Nothing else gets a default (upstream/shovel defaults differ between docs and code, trap 2).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep copy with sorted keys and without undefined members. */
function normalise(value: unknown): Json {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.map((v) => normalise(v));
  if (isRecord(value)) {
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      if (value[key] !== undefined) out[key] = normalise(value[key]);
    }
    return out;
  }
  if (typeof value === 'number') return Object.is(value, -0) ? 0 : value;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  return String(value);
}

function sortedByJson(values: Json[]): Json[] {
  return values
    .map((v) => [canonicalJson(v), v] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => v);
}

/** A URI pool: a single string is a one-element list. */
function uriPool(value: Json): Json {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return sortedByJson(value);
  return value;
}

function withUriPools(value: Json, keys: string[]): Json {
  if (!isRecord(value)) return value;
  const out = { ...value };
  for (const k of keys) if (k in out) out[k] = uriPool(out[k]);
  return normalise(out);
}

const exchangeDefaults = { durable: true, auto_delete: false, internal: false, arguments: {} };
const queueDefaults = { durable: true, auto_delete: false, arguments: {} };
const policyDefaults = {
  priority: brokerPolicyDefaults.priority,
  'apply-to': brokerPolicyDefaults.applyTo,
};
const bindingDefaults = { arguments: {} };

function withDefaults(value: Json, defaults: Record<string, Json>): Json {
  if (!isRecord(value)) return value;
  const out: Record<string, Json> = { ...value };
  for (const [k, d] of Object.entries(defaults)) if (out[k] === null || !(k in out)) out[k] = d;
  return normalise(out);
}

/** The canonical form of a value of `kind`. Idempotent; never throws on odd input. */
export function canonicalValue(kind: ObjectKind, value: unknown): Json {
  const v = normalise(value);
  switch (kind) {
    case 'federation-upstream':
      return withUriPools(v, ['uri']);
    case 'shovel':
      return withUriPools(v, ['src-uri', 'dest-uri']);
    case 'federation-upstream-set':
      return Array.isArray(v) ? sortedByJson(v) : v;
    case 'policy':
      return withDefaults(v, policyDefaults);
    case 'exchange':
      return withDefaults(v, exchangeDefaults);
    case 'queue': {
      const q = withDefaults(v, queueDefaults);
      if (isRecord(q) && isRecord(q.arguments) && q.arguments['x-queue-type'] === 'classic') {
        const { ['x-queue-type']: _classic, ...args } = q.arguments;
        return { ...q, arguments: args };
      }
      return q;
    }
    case 'binding':
      return withDefaults(v, bindingDefaults);
    case 'vhost':
    case 'user':
    case 'permission':
      return accessCanonical(kind, value) as Json;
  }
}

/** Canonical text: equal iff the broker treats both values as the same. */
export function canonicalText(kind: ObjectKind, value: unknown): string {
  return canonicalJson(canonicalValue(kind, value));
}

export function sameValue(kind: ObjectKind, a: unknown, b: unknown): boolean {
  return canonicalText(kind, a) === canonicalText(kind, b);
}

/**
 * The body crossdock sends: the desired value with crossdock's defaults made explicit for
 * exchanges, queues, policies and bindings (the management API would otherwise pick its own, e.g.
 * non-durable). Parameters go as given (a `uri` string stays a string; the broker echoes it so).
 */
export function writeValue(kind: ObjectKind, value: BrokerValue): BrokerValue {
  const defaults =
    kind === 'exchange'
      ? exchangeDefaults
      : kind === 'queue'
        ? queueDefaults
        : kind === 'policy'
          ? policyDefaults
          : kind === 'binding'
            ? bindingDefaults
            : undefined;
  if (!defaults || !isRecord(value)) return value;
  const out: Record<string, unknown> = { ...value };
  for (const [k, d] of Object.entries(defaults)) {
    if (out[k] === undefined || out[k] === null) out[k] = d;
  }
  return out;
}

/**
 * Deep copy with credentials stripped from every string (URIs carry passwords, trap 3.5) and
 * secret-named members (`password_hash`) hidden: the shared shape-based redactor.
 */
export function redactBrokerValue<T>(value: T): T {
  return redactValue(value);
}

export const changedPlaceholder = '(changed)';

/**
 * Redacts `after` for display next to a redacted `before`. A URI whose password is none of the
 * passwords in `before` shows `(changed)` instead of `(redacted)`, so a password rotation is
 * visible in a plan without showing either password.
 */
export function redactAfter(before: unknown, after: unknown): unknown {
  const known = new Set<string>();
  const strings = new Set<string>();
  collectStrings(before, strings, 0);
  for (const s of strings) {
    mapUriPasswords(s, (password) => {
      known.add(password);
      return password;
    });
  }
  // Passwords are marked first; then the shared redactor hides every other credential shape.
  return mapStrings(after, (s) =>
    redactValue(
      mapUriPasswords(s, (password) =>
        known.has(password) ? redactedPlaceholder : changedPlaceholder,
      ),
    ),
  );
}

function collectStrings(value: unknown, into: Set<string>, depth: number): void {
  if (depth > 32) return;
  if (typeof value === 'string') into.add(value);
  else if (Array.isArray(value)) value.forEach((v) => collectStrings(v, into, depth + 1));
  else if (isRecord(value)) Object.values(value).forEach((v) => collectStrings(v, into, depth + 1));
}

function mapStrings(value: unknown, f: (s: string) => string, depth = 0): unknown {
  if (depth > 32) return '(truncated)';
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f, depth + 1));
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mapStrings(v, f, depth + 1);
    return out;
  }
  return value;
}
