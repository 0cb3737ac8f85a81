import { fieldDiff } from '../audit/field-diff';
import { redactString } from '../common/logging/redact';
import {
  managedPrefix,
  type Completion,
  objectKinds,
  type DesiredObject,
  type DesiredState,
  type LedgerEntry,
  type ObjectKey,
  type ObservedObject,
  type ObservedState,
  type Plan,
  type PlanFinding,
  type PlanOp,
} from './broker-state';
import {
  describeKey,
  isBuiltinExchange,
  objectId,
  parseBindingName,
  selfDeletion,
  type FederationQueueRef,
} from '../broker-topology/broker-paths';
import { probeVhost } from '../probes/probe-topology';
import type { CleanupObject } from './link-cleanup';
import { isDeclaredOwner } from './compile-topology';
import {
  compare,
  federationQueueKey,
  keyOf,
  orphanFindings,
  shadowFindings,
  type OwnershipEntry,
} from './plan-findings';

export type { OwnershipEntry } from './plan-findings';
import {
  canonicalText,
  canonicalValue,
  redactAfter,
  redactBrokerValue,
  writeValue,
} from './canonical';

/** A create op of an ensure-only object carries the flag so the caller can put it in the ledger. */
export type CreateOp = Extract<PlanOp, { op: 'create' }> & { ensureOnly?: true };

export interface DiffOptions {
  /**
   * Exchange-federation links whose upstream is THIS cluster (the registry knows them; a
   * cluster's own desired state does not: the upstream parameter lives on the downstream
   * cluster). Their upstream queues are named by federationQueueName. When given, every other
   * `federation: ...` queue in the managed vhosts is reported as an orphan; when absent, the
   * check is skipped (every such queue would look orphaned).
   */
  expectedFederationQueues?: readonly FederationQueueRef[];
  /**
   * Upstream queues (and their internal exchanges) of deleted exchange-federation links, found
   * on this cluster: deleted when `ready` (the downstream cluster no longer runs the link),
   * reported as waiting otherwise; never reported as orphans. A queue an expected link still
   * uses (two links into one exchange share it) is left alone.
   */
  deletedLinkObjects?: readonly CleanupObject[];
  /**
   * Owners (`link:<uuid>`, `policy:<uuid>`) the compiler held back because the cluster's version
   * does not know some of their keys: what they already have on the broker stays as it is.
   */
  heldBackOwners?: ReadonlySet<string>;
}

/** Apply order: creates/updates by dependency, then deletes in reverse dependency order. */
export function opStage(op: Pick<PlanOp, 'op' | 'key'>): number {
  const i = objectKinds.indexOf(op.key.kind);
  return op.op === 'delete' ? 2 * objectKinds.length - 1 - i : i;
}

const kindsWithUserNames = new Set(['exchange', 'queue', 'binding']);

/**
 * Pure: what to write so the cluster holds `desired` in its vhosts, touching only objects the
 * ledger says crossdock owns (creates excepted: a missing object belongs to nobody).
 *
 * Ops carry real values (`after` is what the applier sends); `changes` are redacted already.
 * Show a plan to users only through `redactPlan`.
 */
export function diffStates(
  desired: DesiredState,
  observed: ObservedState,
  ledger: readonly OwnershipEntry[],
  options: DiffOptions = {},
): Plan {
  const vhosts = new Set(desired.vhosts);
  const wanted = indexDesired(desired, vhosts);
  const present = new Map<string, ObservedObject[]>();
  for (const o of observed.objects) {
    if (!vhosts.has(o.vhost)) continue;
    const id = objectId(o);
    present.set(id, [...(present.get(id) ?? []), o]);
  }
  const owned = new Map<string, OwnershipEntry>();
  for (const e of ledger) if (vhosts.has(e.vhost)) owned.set(objectId(e), e);

  const ops: PlanOp[] = [];
  const findings: PlanFinding[] = [];
  const adoptions: LedgerEntry[] = [];
  const completions: Completion[] = [];
  const finding = (kind: PlanFinding['kind'], key: ObjectKey, detail: string) =>
    findings.push({ kind, key: keyOf(key), detail: redactString(detail) });

  for (const [id, d] of wanted) {
    const key = keyOf(d);
    const what = describeKey(key);
    if (d.kind === 'exchange' && isBuiltinExchange(d.name)) {
      if (!d.ensureOnly) finding('unmanaged-conflict', key, `${what} is built in: not managed`);
      continue;
    }
    const instances = present.get(id) ?? [];
    const entry = owned.get(id);
    if (instances.length === 0) {
      // Gone by design is not drift: a one-shot object the broker accepted has finished.
      const gone = entry ? selfDeletion(d.kind, d.value) : undefined;
      if (entry && gone?.mode === 'once' && entry.confirmed !== false) {
        completions.push({ key, owner: entry.owner, reason: gone.reason });
        finding(
          'self-deleted',
          key,
          `${what} was removed by the broker by design (${gone.reason}): completed, not re-created`,
        );
        continue;
      }
      const op: CreateOp = {
        op: 'create',
        key,
        after: writeValue(d.kind, d.value),
        owner: d.owner,
      };
      if (d.ensureOnly) op.ensureOnly = true;
      ops.push(op);
      if (entry && gone?.mode === 'transient') {
        finding(
          'self-deleted',
          key,
          `${what} was removed by the broker by design (${gone.reason}): re-created because it is still wanted`,
        );
      } else if (entry) {
        finding(
          'drift',
          key,
          `${what} is owned but missing from the broker (deleted by hand, or an earlier write failed): recreating it`,
        );
      }
      continue;
    }
    const target = canonicalText(d.kind, d.value);
    const declared = isDeclaredOwner(d.owner);
    if (instances.some((o) => canonicalText(d.kind, o.value) === target)) {
      if (!entry && declared) {
        // Declared through crossdock and already there exactly as declared: owned from now on.
        adoptions.push({ ...key, owner: d.owner });
      } else if (!entry && !d.ensureOnly && key.vhost === probeVhost) {
        // No user object can live in crossdock's probe vhost: an exact match is ours to adopt.
        adoptions.push({ ...key, owner: d.owner });
      } else if (!entry && !d.ensureOnly) {
        finding(
          'unmanaged-conflict',
          key,
          `${what} already holds the desired value but is not in the ownership ledger: crossdock will neither update nor delete it until it is adopted`,
        );
      }
      continue;
    }
    const before = [...instances].sort((a, b) =>
      compare(canonicalText(a.kind, a.value), canonicalText(b.kind, b.value)),
    )[0];
    const changes = fieldDiff(
      canonicalValue(d.kind, before.value),
      canonicalValue(d.kind, d.value),
    );
    const paths = changes.map((c) => c.path).join(', ');
    if (declared) {
      // The broker cannot change a type or an argument in place, and deleting to re-create
      // would lose messages and bindings: report both definitions, touch nothing.
      finding(
        'definition-conflict',
        key,
        `${what} conflicts with its declaration (${d.owner}) in ${paths}: crossdock declares ${canonicalText(d.kind, d.value)}, the broker holds ${canonicalText(before.kind, before.value)}; left as it is (never deleted and re-created): delete it on the broker or change the declaration`,
      );
      continue;
    }
    if (d.ensureOnly) {
      finding(
        'ensure-mismatch',
        key,
        `${what} exists with different ${paths} than the link needs: left as it is (ensure-only objects are never updated)`,
      );
      continue;
    }
    if (!entry) {
      finding(
        'unmanaged-conflict',
        key,
        `${what} exists with different ${paths} but is not in the ownership ledger: not updated`,
      );
      continue;
    }
    if (d.kind === 'exchange' || d.kind === 'queue') {
      finding(
        'drift',
        key,
        `${what} differs in ${paths}; a ${d.kind}'s properties cannot be changed in place: recreate it by hand`,
      );
      continue;
    }
    ops.push({
      op: 'update',
      key,
      before: before.value,
      after: writeValue(d.kind, d.value),
      owner: d.owner,
      changes: changes.map((c) => ({
        path: c.path,
        ...(c.before === undefined ? {} : { before: redactBrokerValue(c.before) }),
        ...(c.after === undefined ? {} : { after: redactAfter(c.before, c.after) }),
      })),
    });
  }

  for (const [id, instances] of present) {
    if (wanted.has(id)) continue;
    const key = keyOf(instances[0]);
    const entry = owned.get(id);
    if (!entry) {
      if (!kindsWithUserNames.has(key.kind) && key.name.startsWith(managedPrefix)) {
        finding(
          'unmanaged-conflict',
          key,
          `${describeKey(key)} has a crossdock name but is not in the ownership ledger: left untouched`,
        );
      }
      continue;
    }
    if (options.heldBackOwners?.has(entry.owner)) {
      finding(
        'held-back',
        key,
        `${describeKey(key)} belongs to ${entry.owner}, held back for this cluster's RabbitMQ version: left as it is`,
      );
      continue;
    }
    if (!deletable(entry)) {
      finding(
        'drift',
        key,
        `${describeKey(key)} is owned but no longer desired; ${key.kind}s created for links are never deleted automatically (they may hold messages or the user's bindings)`,
      );
      continue;
    }
    for (const o of instances) ops.push({ op: 'delete', key, before: o.value, owner: entry.owner });
  }

  const stillUsed = new Set(
    (options.expectedFederationQueues ?? []).map((r) => objectId(federationQueueKey(r))),
  );
  const attributed = new Set<string>();
  for (const c of options.deletedLinkObjects ?? []) {
    const id = objectId(c.key);
    const instances = present.get(id);
    const queueId = objectId({ kind: 'queue', vhost: c.key.vhost, name: c.queue });
    attributed.add(queueId);
    if (!instances || wanted.has(id) || owned.has(id) || stillUsed.has(queueId)) continue;
    if (!c.ready) {
      finding(
        'pending-cleanup',
        c.key,
        `${describeKey(c.key)} belongs to deleted link ${c.linkName}: deleted once the downstream cluster's pass has removed the link's upstream`,
      );
      continue;
    }
    for (const o of instances)
      ops.push({ op: 'delete', key: keyOf(c.key), before: o.value, owner: c.owner });
  }

  findings.push(...shadowFindings(wanted, observed.objects, vhosts, owned));
  if (options.expectedFederationQueues) {
    findings.push(
      ...orphanFindings(observed.objects, vhosts, options.expectedFederationQueues, attributed),
    );
  }

  ops.sort(
    (a, b) =>
      opStage(a) - opStage(b) ||
      compare(a.key.vhost, b.key.vhost) ||
      compare(a.key.name, b.key.name),
  );
  findings.sort(
    (a, b) =>
      compare(a.kind, b.kind) ||
      compare(a.key.kind, b.key.kind) ||
      compare(a.key.vhost, b.key.vhost) ||
      compare(a.key.name, b.key.name) ||
      compare(a.detail, b.detail),
  );
  const plan: Plan = adoptions.length ? { ops, findings, adoptions } : { ops, findings };
  if (completions.length) plan.completions = completions;
  return plan;
}

/** A copy safe to show: credentials stripped from `before`/`after` (changes are redacted at creation). */
export function redactPlan(plan: Plan): Plan {
  return {
    ops: plan.ops.map((op): PlanOp => {
      switch (op.op) {
        case 'create':
          return { ...op, key: keyOf(op.key), after: redactBrokerValue(op.after) };
        case 'update':
          return {
            ...op,
            key: keyOf(op.key),
            before: redactBrokerValue(op.before),
            after: redactBrokerValue(op.after),
            changes: op.changes.map((c) => ({ ...c })),
          };
        case 'delete':
          return { ...op, key: keyOf(op.key), before: redactBrokerValue(op.before) };
      }
    }),
    findings: plan.findings.map((f) => ({
      ...f,
      key: keyOf(f.key),
      detail: redactString(f.detail),
    })),
  };
}

export function deletable(entry: OwnershipEntry): boolean {
  if (entry.kind === 'exchange' || entry.kind === 'queue') return entry.ensureOnly === false;
  if (entry.kind === 'binding') return entry.ensureOnly !== true;
  return true;
}

function indexDesired(desired: DesiredState, vhosts: Set<string>): Map<string, DesiredObject> {
  const wanted = new Map<string, DesiredObject>();
  for (const d of desired.objects) {
    if (!vhosts.has(d.vhost)) {
      throw new RangeError(`desired ${describeKeySafe(d)} is outside the managed vhosts`);
    }
    if (d.kind === 'binding' && parseBindingName(d.name).source === '') {
      throw new RangeError('bindings of the default exchange are implicit and cannot be desired');
    }
    const id = objectId(d);
    if (wanted.has(id)) throw new RangeError(`desired ${describeKeySafe(d)} appears twice`);
    wanted.set(id, d);
  }
  return new Map(
    [...wanted].sort(([, a], [, b]) => compare(a.vhost, b.vhost) || compare(a.name, b.name)),
  );
}

function describeKeySafe(key: ObjectKey): string {
  try {
    return describeKey(key);
  } catch {
    return `${key.kind} ${JSON.stringify(key.name)}`;
  }
}
