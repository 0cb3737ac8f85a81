import type { DataSource } from 'typeorm';
import type { Clock } from '../common/clock/clock';
import type { SampleRow } from './path-state';
import {
  insertSamples,
  latestSample,
  pruneSamples,
  rollUpSamples,
} from './probe-samples.repository';

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
    return latestSample(this.ds, pathId);
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
      await insertSamples(this.ds, batch, this.instanceId);
    } catch {
      // Postgres away: keep a bounded backlog and retry on the next flush.
      this.rows = [...batch, ...this.rows].slice(-50000);
    }
  }

  /** Per-minute rollups of finished minutes, then raw samples past retention go. */
  private async retention(): Promise<void> {
    this.lastRetention = this.clock.nowMs();
    try {
      await rollUpSamples(this.ds);
      await pruneSamples(this.ds, this.retentionHours);
    } catch {
      // next time
    }
  }
}
