import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

export type RunTrigger = 'change' | 'follow-up' | 'schedule' | 'manual' | 'dry-run';
export type RunStatus =
  'running' | 'succeeded' | 'failed' | 'blocked' | 'suspended' | 'planned' | 'busy';

/** A `reconcile_runs` row as Postgres returns it (`seq` is a bigint: a string). */
export interface ReconcileRunRow {
  id: string;
  seq: string;
  cluster_id: string;
  trigger: RunTrigger;
  instance_id: string;
  dry_run: boolean;
  status: RunStatus;
  started_at: Date;
  finished_at: Date | null;
  apply_started_at: Date | null;
  apply_finished_at: Date | null;
  request_id: string | null;
  summary: Record<string, unknown>;
  operations: unknown[];
  findings: unknown[];
  error: string | null;
}

/** What a finished run stores; the caller has redacted it already. */
export interface RunOutcome {
  status: RunStatus;
  summary: unknown;
  operations: unknown;
  findings: unknown;
  error: string | null;
  applyStartedAt: Date | null;
  applyFinishedAt: Date | null;
}

export interface RunListFilter {
  clusterId?: string;
  /** Only runs older than this `seq` (a decoded cursor). */
  beforeSeq?: string;
  limit: number;
}

/** An audit event that may explain a delete, with the registry row it removed (if any). */
export interface ExplainingEvent {
  action: string;
  resourceId: string | null;
  before: unknown;
}

/**
 * The rows of `reconcile_runs` (open, finish, list), the follow-up requests of
 * `reconcile_requests`, and the audit events since a cluster's last successful pass.
 */
@Injectable()
export class ReconcileRunsRepository {
  constructor(@InjectDataSource() private readonly ds: Pick<DataSource, 'query'>) {}

  /**
   * Opens a run; runs left `running` on the cluster are closed as abandoned in the same
   * statement (the new row is not visible to that UPDATE).
   */
  async open(
    clusterId: string,
    trigger: RunTrigger,
    instanceId: string,
    dryRun: boolean,
    requestId: string | null,
  ): Promise<string> {
    const [run] = (await this.ds.query(
      `WITH abandoned AS (
         UPDATE reconcile_runs SET status = 'failed', finished_at = now(), error = 'abandoned: its instance lost the cluster lock'
          WHERE cluster_id = $1 AND status = 'running')
       INSERT INTO reconcile_runs (cluster_id, trigger, instance_id, dry_run, status, request_id)
       VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id`,
      [clusterId, trigger, instanceId, dryRun, requestId],
    )) as { id: string }[];
    return run.id;
  }

  async finish(runId: string, o: RunOutcome): Promise<ReconcileRunRow> {
    const [rows] = (await this.ds.query(
      `UPDATE reconcile_runs SET status = $2, finished_at = now(), summary = $3, operations = $4, findings = $5, error = $6,
         apply_started_at = $7, apply_finished_at = $8 WHERE id = $1 RETURNING *`,
      [
        runId,
        o.status,
        JSON.stringify(o.summary),
        JSON.stringify(o.operations),
        JSON.stringify(o.findings),
        o.error,
        o.applyStartedAt,
        o.applyFinishedAt,
      ],
    )) as [ReconcileRunRow[], number];
    return rows[0];
  }

  /** Newest first, at most `limit` rows. */
  async list(f: RunListFilter): Promise<ReconcileRunRow[]> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (f.clusterId) {
      params.push(f.clusterId);
      where.push(`cluster_id = $${params.length}`);
    }
    if (f.beforeSeq !== undefined) {
      params.push(f.beforeSeq);
      where.push(`seq < $${params.length}`);
    }
    params.push(f.limit);
    return (await this.ds.query(
      `SELECT * FROM reconcile_runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    )) as ReconcileRunRow[];
  }

  async find(runId: string): Promise<ReconcileRunRow | undefined> {
    const [r] = (await this.ds.query(`SELECT * FROM reconcile_runs WHERE id = $1`, [
      runId,
    ])) as ReconcileRunRow[];
    return r;
  }

  /** Records a follow-up request for a change heard `heardMsAgo` ms ago (idempotent). */
  async requestFollowUp(clusterId: string, heardMsAgo: number): Promise<void> {
    await this.ds.query(
      `INSERT INTO reconcile_requests (cluster_id, requested_at)
       SELECT id, now() - make_interval(secs => $2::float8 / 1000) FROM clusters WHERE id = $1
       ON CONFLICT (cluster_id) DO UPDATE
         SET requested_at = greatest(reconcile_requests.requested_at, EXCLUDED.requested_at)`,
      [clusterId, heardMsAgo],
    );
  }

  /** Deletes every request of the cluster: when it did (database clock). */
  async takeAllFollowUps(clusterId: string): Promise<Date> {
    const [at] = (await this.ds.query(
      `WITH taken AS (DELETE FROM reconcile_requests WHERE cluster_id = $1)
       SELECT clock_timestamp() AS at`,
      [clusterId],
    )) as { at: Date }[];
    return at.at;
  }

  /** Deletes the request, if any: due unless heard before `coveredFrom` (none: always due). */
  async takeDueFollowUp(clusterId: string, coveredFrom: Date | null): Promise<boolean> {
    const [rows] = (await this.ds.query(
      `DELETE FROM reconcile_requests WHERE cluster_id = $1
       RETURNING ($2::timestamptz IS NULL OR requested_at >= $2::timestamptz) AS due`,
      [clusterId, coveredFrom],
    )) as [{ due: boolean }[], number];
    return !!rows[0]?.due;
  }

  /** Newest first: events of `actions` since the cluster's last successful (real) pass. */
  async eventsSinceLastSuccess(
    clusterId: string,
    actions: readonly string[],
    limit: number,
  ): Promise<ExplainingEvent[]> {
    const rows = (await this.ds.query(
      `SELECT action, resource_id, payload::jsonb -> 'before' AS before FROM audit_events
      WHERE action = ANY($2::text[])
        AND occurred_at > COALESCE((SELECT max(started_at) FROM reconcile_runs
              WHERE cluster_id = $1 AND status = 'succeeded' AND NOT dry_run), '-infinity')
      ORDER BY seq DESC LIMIT ${limit}`,
      [clusterId, actions],
    )) as { action: string; resource_id: string | null; before: unknown }[];
    return rows.map((r) => ({ action: r.action, resourceId: r.resource_id, before: r.before }));
  }
}
