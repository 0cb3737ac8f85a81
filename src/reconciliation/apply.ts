import { redactString } from '../common/logging/redact';
import type { ObjectKey, Plan, PlanOp } from './broker-state';
import { describeKey, type BrokerClient } from '../broker-topology/broker-paths';
import { opStage } from './diff';
import { failure, messageOf, Run, type OpOutcome, type Tally } from './apply-run';

export type { OpOutcome } from './apply-run';

export interface ApplyHooks {
  /**
   * Awaited before an op touches the broker (the caller writes the ledger row and re-checks its
   * lock here). If it throws, that op is not sent, no further op starts, ops already in flight
   * finish, and the run ends with `stopped`.
   */
  beforeWrite?: (op: PlanOp) => Promise<void> | void;
  /** Awaited after each op that was sent, with its outcome. A throw stops the run likewise. */
  afterWrite?: (op: PlanOp, outcome: OpOutcome) => Promise<void> | void;
  /**
   * Awaited before the first op of each batch is sent (a batch: up to `batchSize` ops of one
   * stage, in plan order; one call at a time, batches in order): the caller writes the batch's
   * ledger rows and intents in one go. No op of a batch is sent before its call resolved; if it
   * throws, none is, no further op starts, ops already in flight finish, and the run ends with
   * `stopped`. Runs before `beforeWrite` of the batch's ops.
   */
  beforeBatch?: (ops: readonly PlanOp[]) => Promise<void> | void;
  /**
   * The outcomes of sent ops, handed over in groups as they complete (group commit: one call at
   * a time, each with every outcome that arrived meanwhile), without holding up further writes.
   * Every outcome of a stage is handed over before the next stage starts, and all before
   * applyPlan resolves. A throw stops the run likewise.
   */
  afterBatch?: (done: readonly SentOp[]) => Promise<void> | void;
}

/** An op that was sent, with its outcome. */
export interface SentOp {
  op: PlanOp;
  outcome: OpOutcome;
}

export interface ApplyOptions {
  /** Ops of one dependency stage in flight at once. Default 8. */
  concurrency?: number;
  /** Tries per request on timeouts, unreachable nodes and 5xx. Default 3. */
  maxAttempts?: number;
  /** First backoff; doubles per retry. Default 250 ms. */
  backoffMs?: number;
  /**
   * Per-node timeout of writes (reads keep the client's). A write the client gives up on may be
   * stored by the broker without its side effect (the link restart), so writes get longer.
   */
  writeTimeoutMs?: number;
  /** Ops per `beforeBatch` call. Default 4x the concurrency. */
  batchSize?: number;
  /** Skip later stages once an op failed (a policy must not point at an upstream that failed). Default true. */
  stopOnStageFailure?: boolean;
  sleep?: (ms: number) => Promise<void>;
}

export interface OpResult extends OpOutcome {
  op: PlanOp['op'];
  key: ObjectKey;
}

export interface ApplyResult {
  /** One per plan op, in plan order. */
  outcomes: OpResult[];
  counts: { created: number; updated: number; deleted: number; failed: number; skipped: number };
  /** HTTP requests sent (retries and binding look-ups included). */
  requests: number;
  /** Why the run ended early, redacted. */
  stopped?: string;
  ms: number;
}

/**
 * Executes a plan: stage by stage in dependency order (opStage), up to `concurrency` ops of one
 * stage at a time, with retries and exponential backoff on transient errors (the client already
 * fails over between nodes within one request). 4xx answers are final: the broker's reason is
 * recorded, redacted. Deletes of objects already gone count as success.
 */
export async function applyPlan(
  client: BrokerClient,
  plan: Plan,
  hooks: ApplyHooks = {},
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const started = performance.now();
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 8));
  const run = new Run(client, {
    maxAttempts: Math.max(1, options.maxAttempts ?? 3),
    backoffMs: options.backoffMs ?? 250,
    writeTimeoutMs: options.writeTimeoutMs,
    sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  });
  const outcomes: (OpResult | undefined)[] = plan.ops.map(() => undefined);
  const stages = new Map<number, number[]>();
  plan.ops.forEach((op, i) => {
    const s = opStage(op);
    stages.set(s, [...(stages.get(s) ?? []), i]);
  });
  let stopped: string | undefined;
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 4 * concurrency));
  /** Prepared batches by stage and number; the chain keeps their calls in order. */
  const prepared = new Map<string, Promise<void>>();
  let preparing: Promise<unknown> = Promise.resolve();
  let batchRefused = false;
  const prepare = (stage: number, batch: number, ops: readonly PlanOp[]): Promise<void> => {
    const id = `${stage}/${batch}`;
    let p = prepared.get(id);
    if (!p) {
      const call = hooks.beforeBatch;
      p = preparing.then(async () => {
        if (batchRefused || stopped !== undefined) throw new Error('the run stopped');
        try {
          await call?.(ops);
        } catch (err) {
          batchRefused = true;
          throw err;
        }
      });
      preparing = p.catch(() => undefined);
      prepared.set(id, p);
    }
    return p;
  };
  // Outcomes waiting for afterBatch, and the call in progress (group commit).
  let pendingOutcomes: SentOp[] = [];
  let flushing: Promise<void> | undefined;
  const drain = async (): Promise<void> => {
    while (pendingOutcomes.length > 0) {
      const done = pendingOutcomes;
      pendingOutcomes = [];
      try {
        await hooks.afterBatch?.(done);
      } catch (err) {
        stopped ??= `afterBatch failed for ${describeKey(done[0].op.key)} and ${done.length - 1} more: ${messageOf(err)}`;
      }
    }
  };
  const flush = (): Promise<void> => {
    // `finally` runs after the assignment, whether or not drain had anything to do.
    flushing ??= drain().finally(() => (flushing = undefined));
    return flushing;
  };

  const runOne = async (index: number, before?: () => Promise<void>): Promise<void> => {
    const op = plan.ops[index];
    const t0 = performance.now();
    const elapsed = () => Math.round((performance.now() - t0) * 10) / 10;
    try {
      try {
        await before?.();
      } catch (err) {
        throw new BatchRefused(messageOf(err));
      }
      await hooks.beforeWrite?.(op);
    } catch (err) {
      stopped ??=
        err instanceof BatchRefused
          ? `beforeBatch refused the batch of ${describeKey(op.key)}: ${err.message}`
          : `beforeWrite refused ${describeKey(op.key)}: ${messageOf(err)}`;
      outcomes[index] = result(op, {
        ok: false,
        skipped: true,
        errorKind: 'hook',
        error: `not sent: ${stopped}`,
        attempts: 0,
        ms: elapsed(),
      });
      return;
    }
    // A batch call (or another op's hook) stopped the run while this op waited for its batch.
    if (before && stopped !== undefined) return;
    const tally: Tally = { attempts: 0 };
    let outcome: OpOutcome;
    try {
      const alreadyGone = await run.execute(op, tally);
      outcome = { ok: true, node: tally.node, attempts: tally.attempts, ms: elapsed() };
      if (alreadyGone) outcome.alreadyGone = true;
    } catch (err) {
      outcome = { ...failure(err), node: tally.node, attempts: tally.attempts, ms: elapsed() };
    }
    outcomes[index] = result(op, outcome);
    if (hooks.afterBatch) {
      pendingOutcomes.push({ op, outcome });
      void flush();
    }
    try {
      await hooks.afterWrite?.(op, outcome);
    } catch (err) {
      stopped ??= `afterWrite failed for ${describeKey(op.key)}: ${messageOf(err)}`;
    }
  };

  for (const stage of [...stages.keys()].sort((a, b) => a - b)) {
    const indexes = stages.get(stage) ?? [];
    const batchOf = (pos: number) => {
      const b = Math.floor(pos / batchSize);
      const ops = indexes.slice(b * batchSize, (b + 1) * batchSize).map((i) => plan.ops[i]);
      return () => prepare(stage, b, ops);
    };
    let next = 0;
    const worker = async () => {
      while (stopped === undefined && next < indexes.length) {
        const pos = next++;
        await runOne(indexes[pos], hooks.beforeBatch ? batchOf(pos) : undefined);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, indexes.length) }, worker));
    // Every outcome of the stage is handed over before the next stage (or the result).
    while (pendingOutcomes.length > 0 || flushing) await flush();
    const failed = indexes.some((i) => outcomes[i] && !outcomes[i].ok && !outcomes[i].skipped);
    if (failed && stopped === undefined && options.stopOnStageFailure !== false) {
      stopped = 'an operation failed; later dependency stages were not attempted';
    }
    if (stopped !== undefined) break;
  }

  const final = plan.ops.map(
    (op, i) =>
      outcomes[i] ??
      result(op, {
        ok: false,
        skipped: true,
        errorKind: 'skipped',
        error: `not attempted: ${stopped ?? 'run ended'}`,
        attempts: 0,
        ms: 0,
      }),
  );
  const counts = { created: 0, updated: 0, deleted: 0, failed: 0, skipped: 0 };
  for (const o of final) {
    if (o.skipped) counts.skipped++;
    else if (!o.ok) counts.failed++;
    else if (o.op === 'create') counts.created++;
    else if (o.op === 'update') counts.updated++;
    else counts.deleted++;
  }
  return {
    outcomes: final,
    counts,
    requests: run.requests,
    ...(stopped === undefined ? {} : { stopped: redactString(stopped) }),
    ms: Math.round(performance.now() - started),
  };
}

class BatchRefused extends Error {}

function result(op: PlanOp, outcome: OpOutcome): OpResult {
  return {
    op: op.op,
    key: { kind: op.key.kind, vhost: op.key.vhost, name: op.key.name },
    ...outcome,
  };
}
