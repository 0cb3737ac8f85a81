import type { Queryable } from '../database/queryable';

/** The SQL of probe samples: storage, the last minute's figures, buckets, rollups and pruning. */

/** One probe sample as stored. */
export interface SampleRow {
  pathId: string;
  at: Date;
  seq: number;
  lagMs: number | null;
  rawMs: number | null;
  lost: boolean;
}

export interface PathMinuteRow {
  path_id: string;
  samples: number;
  lost: number;
  p50: number | null;
  p95: number | null;
  last_at: Date;
}

export interface RawSampleRow {
  at: Date;
  seq: number;
  lag_ms: number | null;
  lost: boolean;
}

export interface SampleBucketRow {
  at: Date;
  samples: number;
  lost: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

export function lastMinuteStats(q: Queryable, pathIds: string[]): Promise<PathMinuteRow[]> {
  return q.query<PathMinuteRow[]>(
    `SELECT path_id, count(*)::int AS samples, count(*) FILTER (WHERE lost)::int AS lost,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS p50,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms) AS p95, max(at) AS last_at
         FROM probe_samples WHERE at > now() - interval '1 minute' AND path_id = ANY($1::text[]) GROUP BY path_id`,
    [pathIds],
  );
}

export function rawSamples(
  q: Queryable,
  pathId: string,
  from: Date,
  to: Date,
): Promise<RawSampleRow[]> {
  return q.query<RawSampleRow[]>(
    `SELECT at, seq, lag_ms, lost FROM probe_samples WHERE path_id = $1 AND at >= $2 AND at < $3 ORDER BY at LIMIT 10000`,
    [pathId, from, to],
  );
}

/** Samples in `step`-second buckets, from the minute rollups or the raw samples. */
export function sampleBuckets(
  q: Queryable,
  useRollups: boolean,
  pathId: string,
  from: Date,
  to: Date,
  step: number,
): Promise<SampleBucketRow[]> {
  return q.query<SampleBucketRow[]>(
    useRollups
      ? `SELECT date_bin(make_interval(secs => $4), bucket, $2) AS at, sum(samples)::int AS samples, sum(lost)::int AS lost,
                  avg(lag_p50_ms) AS p50, max(lag_p95_ms) AS p95, max(lag_max_ms) AS max
             FROM probe_rollups WHERE path_id = $1 AND bucket >= $2 AND bucket < $3 GROUP BY 1 ORDER BY 1 LIMIT 10000`
      : `SELECT date_bin(make_interval(secs => $4), at, $2) AS at, count(*)::int AS samples, count(*) FILTER (WHERE lost)::int AS lost,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS p50,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms) AS p95, max(lag_ms) AS max
             FROM probe_samples WHERE path_id = $1 AND at >= $2 AND at < $3 GROUP BY 1 ORDER BY 1 LIMIT 10000`,
    [pathId, from, to, step],
  );
}

/** The newest stored sample of a path, with its age (database clock). */
export async function latestSample(
  q: Queryable,
  pathId: string,
): Promise<{ lost: boolean; age_ms: number } | undefined> {
  const [row] = await q.query<{ lost: boolean; age_ms: number }[]>(
    `SELECT lost, extract(epoch FROM now() - at) * 1000 AS age_ms FROM probe_samples
        WHERE path_id = $1 ORDER BY at DESC LIMIT 1`,
    [pathId],
  );
  return row;
}

export async function insertSamples(
  q: Queryable,
  batch: SampleRow[],
  instanceId: string,
): Promise<void> {
  await q.query(
    `INSERT INTO probe_samples (path_id, at, seq, lag_ms, raw_ms, lost, instance_id)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::real[], $5::real[], $6::bool[], $7::text[])`,
    [
      batch.map((b) => b.pathId),
      batch.map((b) => b.at),
      batch.map((b) => b.seq),
      batch.map((b) => b.lagMs),
      batch.map((b) => b.rawMs),
      batch.map((b) => b.lost),
      batch.map(() => instanceId),
    ],
  );
}

/** Per-minute rollups of the last ten finished minutes (re-rolled: idempotent). */
export async function rollUpSamples(q: Queryable): Promise<void> {
  await q.query(
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
}

/** Raw samples past retention, then rollups older than 30 days. */
export async function pruneSamples(q: Queryable, retentionHours: number): Promise<void> {
  await q.query(`DELETE FROM probe_samples WHERE at < now() - make_interval(hours => $1)`, [
    retentionHours,
  ]);
  await q.query(`DELETE FROM probe_rollups WHERE bucket < now() - interval '30 days'`);
}
