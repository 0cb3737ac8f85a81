import { MigrationInterface, QueryRunner } from 'typeorm';

/** Overflow rules: a busy queue spills to a remote site through a shovel, with hysteresis. */
export class Overflow1763791200000 implements MigrationInterface {
  name = 'Overflow1763791200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE overflow_rules (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        name varchar(63) NOT NULL,
        cluster_id uuid NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
        vhost varchar(255) NOT NULL,
        queue varchar(255) NOT NULL,
        remote_cluster_id uuid NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
        remote_vhost varchar(255) NOT NULL,
        remote_queue varchar(255),
        remote_exchange varchar(255),
        remote_routing_key varchar(255),
        high_watermark integer NOT NULL CHECK (high_watermark > 0),
        low_watermark integer NOT NULL CHECK (low_watermark >= 0),
        min_hold_ms integer NOT NULL DEFAULT 5000 CHECK (min_hold_ms >= 0),
        remote_max_depth integer CHECK (remote_max_depth > 0),
        prefetch integer NOT NULL DEFAULT 100 CHECK (prefetch BETWEEN 1 AND 10000),
        batch_limit integer NOT NULL DEFAULT 100000 CHECK (batch_limit > 0),
        enabled boolean NOT NULL DEFAULT true,
        state varchar(16) NOT NULL DEFAULT 'inactive'
          CHECK (state IN ('inactive', 'active', 'draining', 'suspended')),
        state_reason text NOT NULL DEFAULT '',
        state_since timestamptz NOT NULL DEFAULT now(),
        batch jsonb,
        diverted bigint NOT NULL DEFAULT 0,
        activations integer NOT NULL DEFAULT 0,
        last_depth integer,
        last_evaluated_at timestamptz,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_overflow_rules_name UNIQUE (name),
        CONSTRAINT uq_overflow_rules_seq UNIQUE (seq),
        CONSTRAINT uq_overflow_rules_queue UNIQUE (cluster_id, vhost, queue),
        CONSTRAINT ck_overflow_rules_watermarks CHECK (low_watermark < high_watermark),
        CONSTRAINT ck_overflow_rules_target CHECK ((remote_queue IS NULL) <> (remote_exchange IS NULL))
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE overflow_rules`);
  }
}
