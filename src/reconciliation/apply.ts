import {
  BrokerError,
  BrokerNotFoundError,
  BrokerProtocolError,
  BrokerServerError,
  BrokerTimeoutError,
  BrokerUnreachableError,
} from '../broker/management.errors';
import type { HttpMethod, ManagementResponse } from '../broker/management.types';
import { redactString } from '../common/logging/redact';
import type { BrokerValue, ObjectKey, Plan, PlanOp } from './broker-state';
import {
  bindingCollectionPath,
  bindingPath,
  describeKey,
  objectPath,
  parseBindingName,
  writeRequest,
  type BrokerClient,
} from '../broker-topology/broker-paths';
import { canonicalText } from './canonical';
import { opStage } from './diff';

export interface ApplyHooks {
  /**
   * Awaited before an op touches the broker (the caller writes the ledger row and re-checks its
   * lock here). If it throws, that op is not sent, no further op starts, ops already in flight
   * finish, and the run ends with `stopped`.
   */
  beforeWrite?: (op: PlanOp) => Promise<void> | void;
  /** Awaited after each op that was sent, with its outcome. A throw stops the run likewise. */
  afterWrite?: (op: PlanOp, outcome: OpOutcome) => Promise<void> | void;
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
  /** Skip later stages once an op failed (a policy must not point at an upstream that failed). Default true. */
  stopOnStageFailure?: boolean;
  sleep?: (ms: number) => Promise<void>;
}

export interface OpOutcome {
  ok: boolean;
  /** Redacted: method, path, node and the broker's reason. */
  error?: string;
  errorKind?: BrokerError['kind'] | 'hook' | 'skipped' | 'unsupported' | 'internal';
  /** The broker's HTTP status, when it answered one. */
  status?: number;
  /** Management node that answered last. */
  node?: string;
  /** Requests tried for this op, retries included. */
  attempts: number;
  ms: number;
  /** A delete found the object already gone (404 / not in the listing): counted as success. */
  alreadyGone?: boolean;
  /** Not attempted (the run stopped before it). */
  skipped?: boolean;
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

  const runOne = async (index: number): Promise<void> => {
    const op = plan.ops[index];
    const t0 = performance.now();
    const elapsed = () => Math.round((performance.now() - t0) * 10) / 10;
    try {
      await hooks.beforeWrite?.(op);
    } catch (err) {
      stopped ??= `beforeWrite refused ${describeKey(op.key)}: ${messageOf(err)}`;
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
    try {
      await hooks.afterWrite?.(op, outcome);
    } catch (err) {
      stopped ??= `afterWrite failed for ${describeKey(op.key)}: ${messageOf(err)}`;
    }
  };

  for (const stage of [...stages.keys()].sort((a, b) => a - b)) {
    const indexes = stages.get(stage) ?? [];
    let next = 0;
    const worker = async () => {
      while (stopped === undefined && next < indexes.length) await runOne(indexes[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, indexes.length) }, worker));
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

interface Tally {
  attempts: number;
  node?: string;
}

interface RunConfig {
  maxAttempts: number;
  backoffMs: number;
  writeTimeoutMs?: number;
  sleep: (ms: number) => Promise<void>;
}

class UnsupportedOpError extends Error {}

class Run {
  requests = 0;

  constructor(
    private readonly client: BrokerClient,
    private readonly config: RunConfig,
  ) {}

  /** Resolves to true when a delete found nothing to delete. */
  async execute(op: PlanOp, tally: Tally): Promise<boolean> {
    const { key } = op;
    if (op.op === 'delete') {
      if (key.kind === 'binding') return this.deleteBinding(key, op.before, tally);
      return this.deleteObject('DELETE', objectPath(key), tally);
    }
    if (op.op === 'update' && (key.kind === 'exchange' || key.kind === 'queue')) {
      throw new UnsupportedOpError(`a ${key.kind} cannot be updated in place`);
    }
    const req = writeRequest(key, op.after);
    await this.send(req.method, req.path, req.body, tally);
    // A binding's arguments are part of its identity: the new one is added, then the old removed.
    if (op.op === 'update' && key.kind === 'binding') {
      await this.deleteBinding(key, op.before, tally);
    }
    return false;
  }

  private async deleteObject(method: HttpMethod, path: string, tally: Tally): Promise<boolean> {
    try {
      await this.send(method, path, undefined, tally);
      return false;
    } catch (err) {
      if (err instanceof BrokerNotFoundError) return true;
      throw err;
    }
  }

  /**
   * A binding is deleted through its `properties_key`, which holds a hash of its arguments that
   * only the broker computes: look it up in the listing between source and destination.
   */
  private async deleteBinding(key: ObjectKey, before: BrokerValue, tally: Tally): Promise<boolean> {
    const { routingKey } = parseBindingName(key.name);
    const listPath = bindingCollectionPath(key);
    const res = await this.send<unknown>('GET', listPath, undefined, tally);
    if (!Array.isArray(res.body)) {
      throw new BrokerProtocolError(
        'GET',
        listPath,
        res.node,
        'wrong-shape',
        'expected an array of bindings',
        res.attempts,
        res.status,
      );
    }
    const wanted = canonicalText('binding', before);
    const match = res.body.find(
      (b: unknown): b is { properties_key: string } =>
        typeof b === 'object' &&
        b !== null &&
        (b as Record<string, unknown>).routing_key === routingKey &&
        typeof (b as Record<string, unknown>).properties_key === 'string' &&
        canonicalText('binding', { arguments: (b as Record<string, unknown>).arguments ?? {} }) ===
          wanted,
    );
    if (!match) return true;
    return this.deleteObject('DELETE', bindingPath(key, match.properties_key), tally);
  }

  private async send<T = unknown>(
    method: HttpMethod,
    path: string,
    body: unknown,
    tally: Tally,
  ): Promise<ManagementResponse<T>> {
    for (let attempt = 1; ; attempt++) {
      tally.attempts++;
      this.requests++;
      try {
        const timeoutMs = method === 'GET' ? undefined : this.config.writeTimeoutMs;
        const res = await this.client.send<T>(
          method,
          path,
          body,
          timeoutMs === undefined ? undefined : { timeoutMs },
        );
        tally.node = res.node;
        return res;
      } catch (err) {
        if (err instanceof BrokerError)
          tally.node = err.node ?? err.attempts.at(-1)?.node ?? tally.node;
        if (!isTransient(err) || attempt >= this.config.maxAttempts) throw err;
        await this.config.sleep(this.config.backoffMs * 2 ** (attempt - 1));
      }
    }
  }
}

function isTransient(err: unknown): boolean {
  return (
    err instanceof BrokerTimeoutError ||
    err instanceof BrokerUnreachableError ||
    err instanceof BrokerServerError
  );
}

function failure(err: unknown): Pick<OpOutcome, 'ok' | 'error' | 'errorKind' | 'status'> {
  if (err instanceof BrokerError) {
    return {
      ok: false,
      error: messageOf(err),
      errorKind: err.kind,
      ...(err.brokerStatus === undefined ? {} : { status: err.brokerStatus }),
    };
  }
  if (err instanceof UnsupportedOpError) {
    return { ok: false, error: messageOf(err), errorKind: 'unsupported' };
  }
  return { ok: false, error: messageOf(err), errorKind: 'internal' };
}

function messageOf(err: unknown): string {
  return redactString(err instanceof Error ? err.message : String(err));
}

function result(op: PlanOp, outcome: OpOutcome): OpResult {
  return {
    op: op.op,
    key: { kind: op.key.kind, vhost: op.key.vhost, name: op.key.name },
    ...outcome,
  };
}
