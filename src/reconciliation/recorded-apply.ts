import { parseBindingName } from '../broker-topology/broker-paths';
import type { DataSource } from 'typeorm';
import type { AuditService } from '../audit/audit.service';
import type { Actor } from '../common/actor/actor';
import type { ApplyResult, OpOutcome } from './apply';
import { claimCreates, settleOutcomes } from './apply-ledger';
import type { Plan, PlanOp } from './broker-state';
import type { ClusterBroker } from './cluster-broker';
import type { ClusterLock } from './cluster-lock';
import { redactPlan } from './diff';

export interface RecordedApplyDeps {
  ds: Pick<DataSource, 'transaction'>;
  audit: Pick<AuditService, 'recordMany'>;
  logger: { warn(obj: object, msg: string): void };
  /** RECONCILE_CONCURRENCY */
  concurrency: number;
  /** BROKER_WRITE_TIMEOUT_MS */
  writeTimeoutMs: number;
}

/** Binding names are JSON text of their parts; show the parts with spaces. Users have no vhost. */
const keyText = (op: PlanOp) =>
  op.key.kind === 'user'
    ? `user ${op.key.name}`
    : `${op.key.kind} ${op.key.vhost} ${op.key.kind === 'binding' ? Object.values(parseBindingName(op.key.name)).join(' ') : op.key.name}`;

/**
 * How the audit trail names the writes of a targeted apply (default: `reconcile.<op>` on the
 * broker object): events are `<action>.intent`, `<action>.succeeded`, `<action>.failed`.
 */
export interface AuditNaming {
  action: (op: PlanOp) => string;
  resourceType: string;
  resourceId?: string;
  resourceName?: string;
  clusterIds?: string[];
  details?: (op: PlanOp) => Record<string, unknown>;
}

export interface RecordedRun {
  clusterId: string;
  siteId: string;
  /** The reconcile run the writes belong to; null for a targeted apply outside a pass. */
  runId: string | null;
  actor: Actor;
  audit?: AuditNaming;
}

/**
 * Applies a plan under the cluster lock with its bookkeeping: before a batch is sent, its ledger
 * claims and intent events commit together; each outcome lands in the audit trail with the
 * ledger change it records; ops the run stopped before sending get an outcome too.
 */
export async function applyRecorded(
  d: RecordedApplyDeps,
  broker: Pick<ClusterBroker, 'apply'>,
  lock: Pick<ClusterLock, 'stillHeld'>,
  run: RecordedRun,
  plan: Plan,
  shown: readonly PlanOp[],
): Promise<ApplyResult> {
  const { clusterId, siteId, runId, actor, audit: naming } = run;
  const intents = new Map<PlanOp, string>();
  const base = {
    resourceType: naming?.resourceType ?? 'broker-object',
    ...(naming?.resourceId ? { resourceId: naming.resourceId } : {}),
    siteIds: [siteId],
    clusterIds: naming?.clusterIds ?? [clusterId],
    actor,
  };
  const event = (op: PlanOp, phase: string, details: Record<string, unknown>) => ({
    ...base,
    action: `${naming ? naming.action(op) : `reconcile.${op.op}`}.${phase}`,
    resourceName: (naming?.resourceName ?? keyText(op)).slice(0, 255),
    details: { ...(naming?.details?.(op) ?? {}), ...details },
  });
  const outcomeEvent = (op: PlanOp, outcome: OpOutcome) =>
    event(op, outcome.ok ? 'succeeded' : 'failed', {
      runId,
      intentSeq: intents.get(op),
      outcome,
    });
  const redacted = new Map(plan.ops.map((op, i) => [op, shown[i]]));
  // Bookkeeping a batch at a time: the batch's ledger rows and intents commit together before
  // any of its writes is sent; outcomes commit in groups as they come back (each with the
  // ledger change it records).
  const result = await broker.apply(
    plan,
    {
      beforeBatch: async (ops) => {
        if (!(await lock.stillHeld()))
          throw new Error('the cluster lock was lost; stopping before the next write');
        const recorded = await d.ds.transaction(async (m) => {
          await claimCreates(m, clusterId, ops);
          return d.audit.recordMany(
            m,
            ops.map((op) => event(op, 'intent', { runId, op: redacted.get(op) })),
          );
        });
        ops.forEach((op, i) => intents.set(op, recorded[i].seq));
      },
      beforeWrite: async () => {
        if (!(await lock.stillHeld()))
          throw new Error('the cluster lock was lost; stopping before the next write');
      },
      afterBatch: (done) =>
        d.ds.transaction(async (m) => {
          await settleOutcomes(m, clusterId, done);
          await d.audit.recordMany(
            m,
            done.map(({ op, outcome }) => outcomeEvent(op, outcome)),
          );
        }),
    },
    {
      concurrency: d.concurrency,
      writeTimeoutMs: d.writeTimeoutMs,
    },
  );
  // Ops of a recorded batch the run stopped before sending: their intents get an outcome too.
  // (Their unconfirmed ledger rows are what the next pass re-creates or forgets.)
  const unsent = plan.ops
    .map((op, i) => ({ op, outcome: result.outcomes[i] }))
    .filter(({ op, outcome }) => outcome.skipped && intents.has(op));
  if (unsent.length)
    await d.ds
      .transaction((m) =>
        d.audit.recordMany(
          m,
          unsent.map(({ op, outcome: { op: _op, key: _key, ...outcome } }) =>
            outcomeEvent(op, outcome),
          ),
        ),
      )
      .catch((err: unknown) =>
        d.logger.warn({ err, clusterId, runId }, 'outcomes of unsent operations not recorded'),
      );
  return result;
}

/**
 * A targeted apply: operations another part of crossdock needs on one cluster now (the overflow
 * engine's spill shovel, the rotation's retired link user, a link refresh), through the same
 * apply path and bookkeeping as a pass. The caller holds the cluster lock.
 */
export function applyTargeted(
  d: RecordedApplyDeps,
  broker: Pick<ClusterBroker, 'apply'>,
  lock: Pick<ClusterLock, 'stillHeld'>,
  run: RecordedRun,
  ops: PlanOp[],
): Promise<ApplyResult> {
  const plan: Plan = { ops, findings: [] };
  return applyRecorded(d, broker, lock, run, plan, redactPlan(plan).ops);
}
