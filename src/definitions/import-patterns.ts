import { parseAmqpUri } from '../broker-topology/link-uri';
/**
 * Pure helpers of the definitions import: what a broker policy pattern covers in crossdock's
 * terms (literal names or a name prefix), and which registered cluster an AMQP URI reaches.
 */

export type PatternTargets =
  | { type: 'names'; names: string[] }
  | { type: 'prefix'; prefix: string }
  | { type: 'none'; reason: string };

const meta = new Set(['.', '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\']);

/** A regex fragment read as a literal string, or undefined when it is not one. */
export function literalOf(fragment: string): string | undefined {
  let out = '';
  for (let i = 0; i < fragment.length; i++) {
    const ch = fragment[i];
    if (ch === '\\') {
      const next = fragment[i + 1];
      // `\.` is a literal dot; `\d`, `\w`, `\1` ... are classes or references.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) return undefined;
      out += next;
      i += 1;
      continue;
    }
    if (meta.has(ch)) return undefined;
    out += ch;
  }
  return out;
}

/**
 * `^name$` -> names [name]; `^(a|b)$` or `^(?:a|b)$` -> names [a, b]; `^prefix` -> prefix.
 * Anything else cannot be expressed as a federation link's targets (with the reason).
 */
export function patternTargets(pattern: string): PatternTargets {
  if (!pattern.startsWith('^')) {
    return {
      type: 'none',
      reason: `pattern ${JSON.stringify(pattern)} is not anchored with ^: it matches names anywhere, which link targets (names or a prefix) cannot express`,
    };
  }
  const body = pattern.slice(1);
  if (body.endsWith('$') && !body.endsWith('\\$')) {
    const inner = body.slice(0, -1);
    const group = /^\((?:\?:)?(.*)\)$/.exec(inner);
    if (group) {
      const names = splitAlternatives(group[1])?.map(literalOf);
      if (names && names.length > 0 && names.every((n): n is string => !!n))
        return { type: 'names', names: [...new Set(names)] };
    } else {
      const name = literalOf(inner);
      if (name) return { type: 'names', names: [name] };
    }
    return {
      type: 'none',
      reason: `pattern ${JSON.stringify(pattern)} is not a list of literal names (^name$ or ^(a|b)$)`,
    };
  }
  const prefix = literalOf(body);
  if (prefix) return { type: 'prefix', prefix };
  return {
    type: 'none',
    reason: `pattern ${JSON.stringify(pattern)} is neither literal names (^name$, ^(a|b)$) nor a literal prefix (^prefix)`,
  };
}

/** Splits `a|b|c` on unescaped bars at the top level; undefined when groups are nested. */
function splitAlternatives(s: string): string[] | undefined {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\') {
      cur += ch + (s[i + 1] ?? '');
      i += 1;
    } else if (ch === '(' || ch === ')') {
      return undefined;
    } else if (ch === '|') {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts;
}

export interface ClusterAddresses {
  id: string;
  name: string;
  siteId: string;
  vhosts: string[];
  /** AMQP addresses: every node, the link endpoints and the site's load balancer. */
  addresses: { host: string; port: number }[];
}

const sameHost = (a: string, b: string) => {
  const norm = (h: string) => (h === 'localhost' || h === '::1' ? '127.0.0.1' : h.toLowerCase());
  return norm(a) === norm(b);
};

export type UriCluster =
  | { ok: true; cluster: ClusterAddresses; vhost: string; hasCredentials: boolean }
  | { ok: false; reason: string; hasCredentials: boolean };

/**
 * The registered cluster every URI of a pool reaches (all must reach the same cluster and vhost),
 * by host and port. `local` answers for `amqp://` without a host.
 */
export function clusterOfUris(
  uris: unknown,
  clusters: readonly ClusterAddresses[],
  local?: ClusterAddresses,
): UriCluster {
  const list = typeof uris === 'string' ? [uris] : Array.isArray(uris) ? uris : [];
  let hasCredentials = false;
  if (list.length === 0 || !list.every((u): u is string => typeof u === 'string'))
    return { ok: false, reason: 'no URI', hasCredentials };
  let found: ClusterAddresses | undefined;
  let vhost: string | undefined;
  for (const [i, u] of list.entries()) {
    const p = parseAmqpUri(u);
    if (!p) return { ok: false, reason: `URI ${i + 1} is not an amqp:// URI`, hasCredentials };
    hasCredentials ||= p.hasCredentials;
    const c =
      p.host === ''
        ? local
        : clusters.find((x) =>
            x.addresses.some((a) => sameHost(a.host, p.host) && a.port === p.port),
          );
    if (!c)
      return {
        ok: false,
        reason: `URI ${i + 1} (${p.host || 'this node'}:${p.port}) is no registered cluster's node, link endpoint or load balancer`,
        hasCredentials,
      };
    if (found && found.id !== c.id)
      return { ok: false, reason: 'the URIs reach different clusters', hasCredentials };
    if (vhost !== undefined && vhost !== p.vhost)
      return { ok: false, reason: 'the URIs name different vhosts', hasCredentials };
    found = c;
    vhost = p.vhost;
  }
  return { ok: true, cluster: found!, vhost: vhost!, hasCredentials };
}

/** A DNS label (crossdock's resource names) from a broker object name. */
export function resourceName(raw: string, taken: Set<string>): string {
  const base =
    raw
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 55)
      .replace(/-$/, '') || 'imported';
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}
