import { objectId } from '../broker-topology/broker-paths';
import type { LedgerEntry, ObservedState, Plan, PlanOp } from './broker-state';
import type { CompileResult } from './compile';
import { deletable, redactPlan } from './diff';

export interface PlanAssessment {
  /** What the run shows: the plan's findings, stale ledger rows, conflicts, held-back links. */
  findings: unknown[];
  summary: Record<string, unknown>;
  /** The plan's operations, redacted, as the run records them. */
  shown: PlanOp[];
  /** Deletes of objects in the ledger (what the mass-delete guard judges). */
  ownedDeletes: PlanOp[];
  /** The plan deletes every deletable owned object and wants nothing. */
  wipesAll: boolean;
}

/** What a pass's plan amounts to, before anything is written (pure). */
export function assessPlan(
  plan: Plan,
  desired: Pick<CompileResult, 'objects' | 'conflicts' | 'heldBack' | 'warnings'>,
  observed: Pick<ObservedState, 'objects' | 'requests'>,
  live: readonly LedgerEntry[],
  stale: readonly LedgerEntry[],
): PlanAssessment {
  const findings = [
    ...plan.findings,
    ...stale.map((e) => ({
      kind: 'stale-ledger',
      key: { kind: e.kind, vhost: e.vhost, name: e.name },
      detail: 'owned object was never created (or is gone): ledger row removed',
    })),
    ...desired.conflicts.map((x) => ({ kind: 'conflict', ...x })),
    ...desired.heldBack.map((h) => ({ kind: 'held-back', ...h })),
    ...desired.warnings.map((w) => ({ kind: 'warning', detail: w })),
  ];
  const summary = {
    desired: desired.objects.length,
    observed: observed.objects.length,
    observeRequests: observed.requests,
    creates: plan.ops.filter((o) => o.op === 'create').length,
    updates: plan.ops.filter((o) => o.op === 'update').length,
    deletes: plan.ops.filter((o) => o.op === 'delete').length,
  };
  // Backlog queues of deleted links are not in the ledger: they count as deletes, not as "all"
  // (their cleanup rows explain them); exchanges and queues crossdock created are never
  // deleted, so they do not count either.
  const inLedger = new Set(live.map((e) => objectId(e)));
  const ownedDeletes = plan.ops.filter((o) => o.op === 'delete' && inLedger.has(objectId(o.key)));
  const deletableOwned = live.filter((e) => deletable(e)).length;
  const wipesAll =
    ownedDeletes.length > 0 &&
    ownedDeletes.length >= deletableOwned &&
    desired.objects.length === 0;
  return { findings, summary, shown: redactPlan(plan).ops, ownedDeletes, wipesAll };
}
