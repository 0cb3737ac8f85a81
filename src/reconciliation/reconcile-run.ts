import type { DataSource } from 'typeorm';
import { BrokerError, typedKind } from '../broker/management.errors';
import { redactDeep, redactString } from '../common/logging/redact';

export type RunTrigger = 'change' | 'follow-up' | 'schedule' | 'manual' | 'dry-run';
export type RunStatus =
  'running' | 'succeeded' | 'failed' | 'blocked' | 'suspended' | 'planned' | 'busy';

export interface RunOptions {
  trigger: RunTrigger;
  dryRun?: boolean;
  /** Lets a pass delete more than RECONCILE_MAX_DELETES objects (or every managed object). */
  confirmDeletes?: boolean;
}

export interface RunView {
  id: string | null;
  clusterId: string;
  trigger: RunTrigger;
  instanceId: string;
  dryRun: boolean;
  status: RunStatus;
  startedAt: string;
  finishedAt: string | null;
  applyStartedAt: string | null;
  applyFinishedAt: string | null;
  summary: Record<string, unknown>;
  operations: unknown[];
  findings: unknown[];
  error: string | null;
}

export interface RunFinish {
  summary?: object;
  operations?: unknown[];
  findings?: unknown[];
  error?: string;
  apply?: [Date, Date];
}

/** The rows of `reconcile_runs`: a pass opens one and finishes it (redacted) with its outcome. */
export class RunRecords {
  constructor(private readonly ds: Pick<DataSource, 'query'>) {}

  /**
   * Holding the lock proves no other pass is alive: runs left `running` died with their
   * replica (closed in the same statement; the new row is not visible to that UPDATE).
   */
  async open(
    clusterId: string,
    opts: RunOptions,
    instanceId: string,
    requestId: string | null,
  ): Promise<string> {
    const [run] = (await this.ds.query(
      `WITH abandoned AS (
         UPDATE reconcile_runs SET status = 'failed', finished_at = now(), error = 'abandoned: its instance lost the cluster lock'
          WHERE cluster_id = $1 AND status = 'running')
       INSERT INTO reconcile_runs (cluster_id, trigger, instance_id, dry_run, status, request_id)
       VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id`,
      [clusterId, opts.trigger, instanceId, !!opts.dryRun, requestId],
    )) as { id: string }[];
    return run.id;
  }

  async finish(runId: string, status: RunStatus, extra: RunFinish): Promise<RunView> {
    const [rows] = (await this.ds.query(
      `UPDATE reconcile_runs SET status = $2, finished_at = now(), summary = $3, operations = $4, findings = $5, error = $6,
         apply_started_at = $7, apply_finished_at = $8 WHERE id = $1 RETURNING *`,
      [
        runId,
        status,
        JSON.stringify(redactDeep(extra.summary ?? {})),
        JSON.stringify(redactDeep(extra.operations ?? [])),
        JSON.stringify(redactDeep(extra.findings ?? [])),
        extra.error === undefined ? null : redactString(extra.error),
        extra.apply?.[0] ?? null,
        extra.apply?.[1] ?? null,
      ],
    )) as [Record<string, unknown>[], number];
    return runView(rows[0]);
  }
}

export function runView(r: Record<string, unknown>): RunView {
  const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : null);
  return {
    id: r.id as string,
    clusterId: r.cluster_id as string,
    trigger: r.trigger as RunTrigger,
    instanceId: r.instance_id as string,
    dryRun: r.dry_run as boolean,
    status: r.status as RunStatus,
    startedAt: iso(r.started_at) as string,
    finishedAt: iso(r.finished_at),
    applyStartedAt: iso(r.apply_started_at),
    applyFinishedAt: iso(r.apply_finished_at),
    summary: r.summary as Record<string, unknown>,
    operations: r.operations as unknown[],
    findings: r.findings as unknown[],
    error: (r.error as string | null) ?? null,
  };
}

/** The answer to a pass that found its cluster held (by this instance or another). */
export function busyRun(
  clusterId: string,
  opts: RunOptions,
  instanceId: string,
  at: Date,
  why: string,
): RunView {
  return {
    id: null,
    clusterId,
    trigger: opts.trigger,
    instanceId,
    dryRun: !!opts.dryRun,
    status: 'busy',
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    applyStartedAt: null,
    applyFinishedAt: null,
    summary: {},
    operations: [],
    findings: [],
    error: why,
  };
}

/**
 * How a run records an observation that failed. Typed, so a run says why: timeout, server,
 * unreachable, protocol/<problem> (a malformed, cut or oversized listing is never half-believed).
 */
export function observeFailure(err: unknown): RunFinish {
  const kind = err instanceof BrokerError ? typedKind(err) : 'internal';
  const observeError =
    err instanceof BrokerError
      ? { kind, method: err.method, path: err.path, brokerStatus: err.brokerStatus }
      : { kind };
  return {
    summary: { observeError },
    error: `cluster not observable, nothing written (${kind}): ${err instanceof Error ? err.message : 'unknown error'}`,
  };
}
