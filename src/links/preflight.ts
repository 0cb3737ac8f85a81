import type { PermissionsModel } from '../broker-topology/user.codec';
import { linearRegex } from '../common/linear-regex';

/**
 * Preflight: what a link needs on both ends (source, destination, upstream and downstream
 * objects, and the link user's permissions), and the decision when something is missing. Pure:
 * the service reads the brokers, this file decides what to warn about and what blocks the link.
 */

export type Permission = 'configure' | 'write' | 'read';

export interface PreflightNeed {
  role: 'source' | 'destination' | 'upstream' | 'downstream';
  kind: 'queue' | 'exchange';
  clusterId: string;
  vhost: string;
  name: string;
  /**
   * What the link does on the object as the link user when it exists (empty: the link reaches
   * it over a direct connection of the node it runs on, which is not bound by permissions).
   */
  linkUser: Permission[];
  /**
   * The link declares the object itself when it is missing: as the link user (then it needs
   * configure on the name), directly (no permission needed), or never (missing blocks it).
   */
  declares: 'link-user' | 'direct' | 'granted' | false;
}

/** What the brokers answered; `undefined` wherever they could not be asked. */
export interface PreflightFacts {
  /** `site/cluster`, for messages. */
  label(clusterId: string): string;
  /** Set when the cluster could not be checked (unreachable, timeout, ...). */
  unchecked(clusterId: string): string | undefined;
  exists(need: PreflightNeed): boolean | undefined;
  /** The link user's permissions in a vhost: null when it has none there. */
  permissions(clusterId: string, vhost: string): PermissionsModel | null | undefined;
}

export interface PreflightResult {
  /** Everything worth telling the writer, one sentence each, naming the object and the cluster. */
  warnings: string[];
  /** The first thing that keeps the link from working (`blocked: ...`), or null. */
  blocked: string | null;
}

/**
 * The broker matches permission regexes with PCRE; they are run here on RE2 (linear time, the
 * pattern comes from a broker response), and a pattern RE2 cannot run is unknown.
 */
export function permits(pattern: string, name: string): boolean | undefined {
  if (pattern === '') return false;
  return linearRegex(pattern)?.test(name);
}

/** The default exchange is `amq.default` for permissions. */
const permissionName = (n: PreflightNeed) =>
  n.kind === 'exchange' && n.name === '' ? 'amq.default' : n.name;

const what = (n: PreflightNeed) => `${n.role} ${n.kind} "${n.name}"`;

export function decidePreflight(needs: PreflightNeed[], facts: PreflightFacts): PreflightResult {
  const warnings: string[] = [];
  const blocks: string[] = [];
  const seenUnchecked = new Set<string>();
  for (const n of needs) {
    const where = `on ${facts.label(n.clusterId)}`;
    const reason = facts.unchecked(n.clusterId);
    if (reason !== undefined) {
      if (!seenUnchecked.has(n.clusterId)) {
        seenUnchecked.add(n.clusterId);
        warnings.push(`could not check ${facts.label(n.clusterId)}: ${reason}`);
      }
      continue;
    }
    const perms =
      n.linkUser.length || n.declares === 'link-user'
        ? facts.permissions(n.clusterId, n.vhost)
        : undefined;
    const lacking = (ps: Permission[]) =>
      perms === null
        ? ps
        : perms === undefined
          ? []
          : ps.filter((p) => permits(perms[p], permissionName(n)) === false);
    const exists = n.kind === 'exchange' && n.name === '' ? true : facts.exists(n);
    if (exists === undefined) continue;
    if (!exists) {
      if (n.declares === 'direct' || n.declares === 'granted') {
        warnings.push(`${what(n)} missing ${where}: the link declares it (classic, durable)`);
      } else if (
        n.declares === 'link-user' &&
        lacking(['configure']).length === 0 &&
        perms !== undefined
      ) {
        warnings.push(`${what(n)} missing ${where}: the link declares it (classic, durable)`);
      } else if (n.declares === 'link-user' && perms === undefined) {
        warnings.push(`${what(n)} missing ${where}: the link tries to declare it`);
      } else {
        const note =
          n.declares === 'link-user'
            ? ' (the link user may not declare it: no configure permission on it)'
            : '';
        warnings.push(`${what(n)} missing ${where}${note}`);
        blocks.push(`${n.role} ${n.kind} "${n.name}" missing ${where}`);
      }
      continue;
    }
    const missing = lacking(n.linkUser);
    if (missing.length) {
      const text = `link user lacks ${missing.join(', ')} permission on ${n.kind} "${permissionName(n)}" (vhost ${n.vhost}) ${where}`;
      warnings.push(text);
      blocks.push(text);
    }
  }
  return { warnings, blocked: blocks.length ? `blocked: ${blocks[0]}` : null };
}

export interface ShovelNeedsInput {
  /** `declareDestination`: crossdock grants the link user configure on the destination queue. */
  settings?: { declareDestination?: boolean };
  source: { clusterId: string; vhost: string; queue: string | null; exchange: string | null };
  destination: { clusterId: string; vhost: string; queue: string | null; exchange: string | null };
}

/**
 * A shovel runs on its source cluster and reaches the source over a direct connection; it
 * publishes to the destination as the destination's link user. With `src-queue` / `dest-queue`
 * it declares a missing queue (passive first), which at the destination needs configure: the
 * link user has it only for shovels with `declareDestination`.
 */
export function shovelNeeds(s: ShovelNeedsInput): PreflightNeed[] {
  const src = s.source;
  const dst = s.destination;
  const out: PreflightNeed[] = [];
  if (src.queue)
    out.push({
      role: 'source',
      kind: 'queue',
      ...at(src),
      name: src.queue,
      linkUser: [],
      declares: 'direct',
    });
  else if (src.exchange)
    out.push({
      role: 'source',
      kind: 'exchange',
      ...at(src),
      name: src.exchange,
      linkUser: [],
      declares: false,
    });
  if (dst.exchange) {
    out.push({
      role: 'destination',
      kind: 'exchange',
      ...at(dst),
      name: dst.exchange,
      linkUser: ['write'],
      declares: false,
    });
  } else {
    if (dst.queue)
      out.push({
        role: 'destination',
        kind: 'queue',
        ...at(dst),
        name: dst.queue,
        linkUser: [],
        declares: s.settings?.declareDestination ? 'granted' : 'link-user',
      });
    out.push({
      role: 'destination',
      kind: 'exchange',
      ...at(dst),
      name: '',
      linkUser: ['write'],
      declares: false,
    });
  }
  return out;
}

export interface FederationNeedsInput {
  kind: 'exchange' | 'queue';
  downstream: { clusterId: string; vhost: string };
  upstream: { clusterId: string; vhost: string; exchange: string | null; queue: string | null };
  targets: string[];
}

/**
 * Federation runs on the downstream cluster (direct there) and reads from the upstream as the
 * upstream's link user: an exchange link binds its own `federation: ...` queue to the upstream
 * exchange (read on it), a queue link consumes from the upstream queue (read on it). Links by
 * prefix name no object: nothing to check.
 */
export function federationNeeds(l: FederationNeedsInput): PreflightNeed[] {
  const out: PreflightNeed[] = [];
  for (const t of l.targets) {
    out.push({
      role: 'downstream',
      kind: l.kind,
      ...at(l.downstream),
      name: t,
      linkUser: [],
      declares: false,
    });
    const upName = (l.kind === 'exchange' ? l.upstream.exchange : l.upstream.queue) ?? t;
    out.push({
      role: 'upstream',
      kind: l.kind,
      ...at(l.upstream),
      name: upName,
      linkUser: ['read'],
      declares: false,
    });
  }
  return out;
}

const at = (e: { clusterId: string; vhost: string }) => ({
  clusterId: e.clusterId,
  vhost: e.vhost,
});
