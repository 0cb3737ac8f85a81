import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export interface ClusterPassAge {
  clusterId: string;
  /** `site/cluster`. */
  name: string;
  /** Seconds since the cluster's last successful pass (since registration if none yet). */
  ageSeconds: number;
}

/** The registry reads behind the reconcile gauges, taken at scrape time. */
@Injectable()
export class ReconcileMetricsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async pendingFollowUps(): Promise<number> {
    const [row] = (await this.ds.query(`SELECT count(*)::int AS n FROM reconcile_requests`)) as {
      n: number;
    }[];
    return row?.n ?? 0;
  }

  /** Clusters whose reconciliation is suspended (by cluster or site) are left out. */
  async lastSuccessAges(): Promise<ClusterPassAge[]> {
    const rows = (await this.ds.query(
      `SELECT c.id, s.name || '/' || c.name AS name,
              extract(epoch FROM now() - coalesce(last.finished_at, c.created_at))::float8 AS age
         FROM clusters c
         JOIN sites s ON s.id = c.site_id
         LEFT JOIN LATERAL (
           SELECT finished_at FROM reconcile_runs r
            WHERE r.cluster_id = c.id AND r.status = 'succeeded' AND NOT r.dry_run
            ORDER BY r.seq DESC LIMIT 1) last ON true
        WHERE NOT c.reconcile_suspended AND NOT s.reconcile_suspended`,
    )) as { id: string; name: string; age: number }[];
    return rows.map((r) => ({ clusterId: r.id, name: r.name, ageSeconds: Math.max(0, r.age) }));
  }
}
