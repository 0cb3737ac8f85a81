import { MigrationInterface, QueryRunner } from 'typeorm';

/** Lag probe samples (raw, with retention) and per-link health with its thresholds. */
export class Probes1763787600000 implements MigrationInterface {
  name = 'Probes1763787600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE probe_samples (
        path_id varchar(120) NOT NULL,
        at timestamptz NOT NULL,
        seq integer NOT NULL,
        lag_ms real,
        raw_ms real,
        lost boolean NOT NULL,
        instance_id varchar(120) NOT NULL
      )`);
    await q.query(`CREATE INDEX probe_samples_path_at_idx ON probe_samples (path_id, at)`);
    await q.query(`CREATE INDEX probe_samples_at_idx ON probe_samples (at)`);
    await q.query(`
      CREATE TABLE probe_rollups (
        path_id varchar(120) NOT NULL,
        bucket timestamptz NOT NULL,
        samples integer NOT NULL,
        lost integer NOT NULL,
        lag_p50_ms real,
        lag_p95_ms real,
        lag_max_ms real,
        PRIMARY KEY (path_id, bucket)
      )`);
    await q.query(`
      CREATE TABLE link_health (
        link_id uuid PRIMARY KEY,
        link_kind varchar(16) NOT NULL CHECK (link_kind IN ('federation', 'shovel')),
        path_id varchar(120),
        state varchar(16) NOT NULL DEFAULT 'unknown'
          CHECK (state IN ('healthy', 'degraded', 'down', 'unknown')),
        reasons jsonb NOT NULL DEFAULT '[]',
        vals jsonb NOT NULL DEFAULT '{}',
        thresholds jsonb NOT NULL DEFAULT '{}',
        since timestamptz NOT NULL DEFAULT now(),
        evaluated_at timestamptz,
        evaluated_by varchar(120)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE link_health`);
    await q.query(`DROP TABLE probe_rollups`);
    await q.query(`DROP TABLE probe_samples`);
  }
}
