import type { DataSource } from 'typeorm';

/**
 * The `reconcile_requests` rows: a change that found its cluster busy asks for one follow-up
 * pass. A request keeps when its newest change was heard (database clock): a pass that started
 * reading the registry after that already covered it.
 */
export class FollowUpRequests {
  constructor(private readonly ds: Pick<DataSource, 'query'>) {}

  /** Records a request for a change heard `heardMsAgo` ms ago (idempotent). */
  async request(clusterId: string, heardMsAgo: number): Promise<void> {
    await this.ds.query(
      `INSERT INTO reconcile_requests (cluster_id, requested_at)
       SELECT id, now() - make_interval(secs => $2::float8 / 1000) FROM clusters WHERE id = $1
       ON CONFLICT (cluster_id) DO UPDATE
         SET requested_at = greatest(reconcile_requests.requested_at, EXCLUDED.requested_at)`,
      [clusterId, Math.max(0, heardMsAgo)],
    );
  }

  /** Takes every request (a pass about to read the registry covers them): when it did. */
  async takeAll(clusterId: string): Promise<Date> {
    const [at] = (await this.ds.query(
      `WITH taken AS (DELETE FROM reconcile_requests WHERE cluster_id = $1)
       SELECT clock_timestamp() AS at`,
      [clusterId],
    )) as { at: Date }[];
    return at.at;
  }

  /** Takes the request, if any: due unless heard before `coveredFrom` (none: always due). */
  async takeDue(clusterId: string, coveredFrom?: Date): Promise<boolean> {
    const [rows] = (await this.ds.query(
      `DELETE FROM reconcile_requests WHERE cluster_id = $1
       RETURNING ($2::timestamptz IS NULL OR requested_at >= $2::timestamptz) AS due`,
      [clusterId, coveredFrom ?? null],
    )) as [{ due: boolean }[], number];
    return !!rows[0]?.due;
  }
}
