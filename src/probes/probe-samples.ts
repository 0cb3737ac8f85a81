import type { DataSource } from 'typeorm';
import type { Clock } from '../common/clock/clock';
import type { SampleRow } from './path-state';

/**
 * Probe samples on their way to Postgres: buffered in memory, flushed every 2 s (a bounded
 * backlog survives a database outage), rolled up per minute and pruned every minute.
 */
export class ProbeSamples {
  private rows: SampleRow[] = [];
  private lastFlush = 0;
  private lastRetention = 0;

  constructor(
    private readonly ds: Pick<DataSource, 'query'>,
    private readonly clock: Clock,
    private readonly instanceId: string,
    private readonly retentionHours: number,
  ) {}

  push(row: SampleRow): void {
    this.rows.push(row);
  }

  /** Flushes and prunes when they are due. */
  async maintain(): Promise<void> {
    if (this.clock.nowMs() - this.lastFlush > 2000) await this.flush();
    if (this.clock.nowMs() - this.lastRetention > 60000) await this.retention();
  }

  /** The newest stored sample of a path, with its age (database clock). */
  async latest(pathId: string): Promise<{ lost: boolean; age_ms: number } | undefined> {
    const [row] = (await this.ds.query(
      `SELECT lost, extract(epoch FROM now() - at) * 1000 AS age_ms FROM probe_samples
        WHERE path_id = $1 ORDER BY at DESC LIMIT 1`,
      [pathId],
    )) as { lost: boolean; age_ms: number }[];
    return row;
  }

  /** Is data crossing a path this instance does not probe? Judged by its newest stored sample. */
  async storedStatus(pathId: string, limitMs: number): Promise<{ up: boolean; reason: string }> {
    const row = await this.latest(pathId);
    if (!row) return { up: false, reason: 'no probe has crossed this path yet' };
    if (row.lost) return { up: false, reason: 'the last probe on the path was lost' };
    if (Number(row.age_ms) > limitMs)
      return {
        up: false,
        reason: `no probe crossed the path for ${Math.round(Number(row.age_ms))} ms`,
      };
    return { up: true, reason: 'probes are crossing' };
  }

  async flush(): Promise<void> {
    this.lastFlush = this.clock.nowMs();
    if (this.rows.length === 0) return;
    const batch = this.rows;
    this.rows = [];
    try {
      await this.ds.query(
        `INSERT INTO probe_samples (path_id, at, seq, lag_ms, raw_ms, lost, instance_id)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::real[], $5::real[], $6::bool[], $7::text[])`,
        [
          batch.map((b) => b.pathId),
          batch.map((b) => b.at),
          batch.map((b) => b.seq),
          batch.map((b) => b.lagMs),
          batch.map((b) => b.rawMs),
          batch.map((b) => b.lost),
          batch.map(() => this.instanceId),
        ],
      );
    } catch {
      // Postgres away: keep a bounded backlog and retry on the next flush.
      this.rows = [...batch, ...this.rows].slice(-50000);
    }
  }

  /** Per-minute rollups of finished minutes, then raw samples past retention go. */
  private async retention(): Promise<void> {
    this.lastRetention = this.clock.nowMs();
    try {
      await this.ds.query(
        `INSERT INTO probe_rollups (path_id, bucket, samples, lost, lag_p50_ms, lag_p95_ms, lag_max_ms)
         SELECT path_id, date_trunc('minute', at), count(*), count(*) FILTER (WHERE lost),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms),
                percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms), max(lag_ms)
           FROM probe_samples
          WHERE at >= date_trunc('minute', now()) - interval '10 minutes' AND at < date_trunc('minute', now())
          GROUP BY 1, 2
         ON CONFLICT (path_id, bucket) DO UPDATE SET samples = EXCLUDED.samples, lost = EXCLUDED.lost,
           lag_p50_ms = EXCLUDED.lag_p50_ms, lag_p95_ms = EXCLUDED.lag_p95_ms, lag_max_ms = EXCLUDED.lag_max_ms`,
      );
      await this.ds.query(
        `DELETE FROM probe_samples WHERE at < now() - make_interval(hours => $1)`,
        [this.retentionHours],
      );
      await this.ds.query(`DELETE FROM probe_rollups WHERE bucket < now() - interval '30 days'`);
    } catch {
      // next time
    }
  }
}
