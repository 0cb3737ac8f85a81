import { linearRegex, type NameMatcher } from '../common/linear-regex';
import { redactString } from '../common/logging/redact';
import type {
  LedgerEntry,
  ObjectKey,
  ObservedObject,
  PlanFinding,
  DesiredObject,
} from './broker-state';
import {
  federationQueueName,
  federationQueuePrefix,
  isBuiltinExchange,
  objectId,
  parseFederationQueueName,
  type FederationQueueRef,
} from '../broker-topology/broker-paths';
import { canonicalValue } from './canonical';

/**
 * The findings of a plan that are not operations: user objects shadowed by crossdock's policies
 * and objects in crossdock's namespace that nothing explains (orphans).
 */

/**
 * A ledger row. `ensureOnly` (the ledger's `ensure_only`) says whether an owned exchange or queue
 * must outlive its owner; rows without it are treated as ensure-only for exchanges and queues, so
 * those are never deleted unless a row says `ensureOnly: false` (a declared object deleted with
 * the deletion policy `delete`).
 */
export interface OwnershipEntry extends LedgerEntry {
  ensureOnly?: boolean;
}

export function keyOf(k: ObjectKey): ObjectKey {
  return { kind: k.kind, vhost: k.vhost, name: k.name };
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface PolicyView {
  name: string;
  vhost: string;
  regex?: NameMatcher;
  priority: number;
  applyTo: string;
}

function policyView(o: { name: string; vhost: string; value: unknown }): PolicyView {
  const v = canonicalValue('policy', o.value) as Record<string, unknown>;
  // Linear time on any observed pattern; what RE2 cannot run (Erlang's PCRE accepts possessive
  // quantifiers, backreferences, \Q..\E) gives no verdict.
  const regex = typeof v.pattern === 'string' ? linearRegex(v.pattern) : undefined;
  return {
    name: o.name,
    vhost: o.vhost,
    regex,
    priority: typeof v.priority === 'number' ? v.priority : 0,
    applyTo: typeof v['apply-to'] === 'string' ? v['apply-to'] : 'all',
  };
}

function appliesTo(applyTo: string, kind: 'queue' | 'exchange'): boolean {
  if (applyTo === 'all') return true;
  if (applyTo === 'exchanges') return kind === 'exchange';
  // 3.12+ also has classic_queues/quorum_queues/streams: all of them are queues.
  return kind === 'queue';
}

const maxNamed = 10;

/**
 * An unmanaged policy (not desired, not owned) with a priority at least that of a desired policy
 * whose pattern matches the same object wins or ties there, and only one policy applies to an
 * object (trap 3.1): the desired policy silently does nothing on those objects. Patterns are
 * evaluated with JS RegExp, a close subset of the broker's PCRE.
 */
export function shadowFindings(
  wanted: Map<string, DesiredObject>,
  observed: readonly ObservedObject[],
  vhosts: Set<string>,
  owned: Map<string, OwnershipEntry>,
): PlanFinding[] {
  const targets = new Map<string, Map<string, 'queue' | 'exchange'>>();
  const addTarget = (vhost: string, kind: 'queue' | 'exchange', name: string) => {
    const m = targets.get(vhost) ?? new Map<string, 'queue' | 'exchange'>();
    m.set(`${kind}\u0000${name}`, kind);
    targets.set(vhost, m);
  };
  for (const o of [...observed, ...wanted.values()]) {
    if (!vhosts.has(o.vhost)) continue;
    if (o.kind === 'queue') addTarget(o.vhost, 'queue', o.name);
    if (o.kind === 'exchange' && !isBuiltinExchange(o.name)) addTarget(o.vhost, 'exchange', o.name);
  }
  const rivals = observed
    .filter(
      (o) =>
        o.kind === 'policy' &&
        vhosts.has(o.vhost) &&
        !wanted.has(objectId(o)) &&
        !owned.has(objectId(o)),
    )
    .map(policyView);
  const out: PlanFinding[] = [];
  for (const d of wanted.values()) {
    if (d.kind !== 'policy') continue;
    const mine = policyView(d);
    if (!mine.regex) continue;
    for (const rival of rivals) {
      if (rival.vhost !== d.vhost || !rival.regex || rival.priority < mine.priority) continue;
      const hits: string[] = [];
      for (const [id, kind] of targets.get(d.vhost) ?? []) {
        const name = id.slice(id.indexOf('\u0000') + 1);
        if (!appliesTo(mine.applyTo, kind) || !appliesTo(rival.applyTo, kind)) continue;
        if (mine.regex.test(name) && rival.regex.test(name))
          hits.push(`${kind} ${JSON.stringify(name)}`);
      }
      if (hits.length === 0) continue;
      hits.sort();
      const named = hits.slice(0, maxNamed).join(', ');
      const more = hits.length > maxNamed ? ` and ${hits.length - maxNamed} more` : '';
      const verb = rival.priority === mine.priority ? 'ties with' : 'outranks';
      out.push({
        kind: 'shadowed',
        key: keyOf(d),
        detail: redactString(
          `unmanaged policy ${JSON.stringify(rival.name)} (priority ${rival.priority}) ${verb} desired policy ${JSON.stringify(d.name)} (priority ${mine.priority}) on ${named}${more}: only one policy applies to an object, so ${JSON.stringify(d.name)} may not take effect there`,
        ),
      });
    }
  }
  return out;
}

/**
 * `federation: ...` queues (exchange-federation upstream queues, on the upstream cluster) that
 * no expected link names: left behind by a deleted link or a link set up by hand, holding
 * messages nobody will consume (rabbitmq-server #4667, trap 3.13).
 */
export function federationQueueKey(r: FederationQueueRef): ObjectKey {
  return { kind: 'queue', vhost: r.vhost, name: federationQueueName(r) };
}

export function orphanFindings(
  observed: readonly ObservedObject[],
  vhosts: Set<string>,
  expected: readonly FederationQueueRef[],
  attributed: ReadonlySet<string>,
): PlanFinding[] {
  const names = new Set(expected.map((r) => objectId(federationQueueKey(r))));
  const out: PlanFinding[] = [];
  for (const o of observed) {
    if (o.kind !== 'queue' || !vhosts.has(o.vhost) || !o.name.startsWith(federationQueuePrefix)) {
      continue;
    }
    if (names.has(objectId(o)) || attributed.has(objectId(o))) continue;
    const parsed = parseFederationQueueName(o.name);
    const about = parsed
      ? `copies exchange ${JSON.stringify(parsed.exchange)} for downstream ${JSON.stringify(parsed.downstream)}`
      : 'has a federation name';
    out.push({
      kind: 'orphan-federation-queue',
      key: keyOf(o),
      detail: redactString(
        `queue ${JSON.stringify(o.name)} ${about}, but no desired federation link explains it (a deleted link with resource-cleanup-mode never, or a link set up by hand): messages in it are not delivered anywhere`,
      ),
    });
  }
  return out;
}
