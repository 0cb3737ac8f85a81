import type { DataSource } from 'typeorm';
import { BrokerError, typedKind } from '../broker/management.errors';
import { redactDeep, redactString } from '../common/logging/redact';
import {
  ReconcileRunsRepository,
  type ReconcileRunRow,
  type RunStatus,
  type RunTrigger,
} from './reconcile-runs.repository';

export type { RunStatus, RunTrigger };

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
  private readonly repo: ReconcileRunsRepository;

  constructor(ds: Pick<DataSource, 'query'>) {
    this.repo = new ReconcileRunsRepository(ds);
  }

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
    return this.repo.open(clusterId, opts.trigger, instanceId, !!opts.dryRun, requestId);
  }

  async finish(runId: string, status: RunStatus, extra: RunFinish): Promise<RunView> {
    const row = await this.repo.finish(runId, {
      status,
      summary: redactDeep(extra.summary ?? {}),
      operations: redactDeep(extra.operations ?? []),
      findings: redactDeep(extra.findings ?? []),
      error: extra.error === undefined ? null : redactString(extra.error),
      applyStartedAt: extra.apply?.[0] ?? null,
      applyFinishedAt: extra.apply?.[1] ?? null,
    });
    return runView(row);
  }
}

export function runView(r: ReconcileRunRow): RunView {
  const iso = (d: Date | null | undefined) => (d instanceof Date ? d.toISOString() : null);
  return {
    id: r.id,
    clusterId: r.cluster_id,
    trigger: r.trigger,
    instanceId: r.instance_id,
    dryRun: r.dry_run,
    status: r.status,
    startedAt: r.started_at.toISOString(),
    finishedAt: iso(r.finished_at),
    applyStartedAt: iso(r.apply_started_at),
    applyFinishedAt: iso(r.apply_finished_at),
    summary: r.summary,
    operations: r.operations,
    findings: r.findings,
    error: r.error ?? null,
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
