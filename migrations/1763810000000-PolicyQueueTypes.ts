import { MigrationInterface, QueryRunner } from 'typeorm';

/** Policies may apply to one queue type (`classic_queues`, `quorum_queues`, `streams`: RabbitMQ 3.12+). */
export class PolicyQueueTypes1763810000000 implements MigrationInterface {
  name = 'PolicyQueueTypes1763810000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE policies DROP CONSTRAINT ck_policies_apply_to`);
    await q.query(`ALTER TABLE policies ALTER COLUMN apply_to TYPE varchar(16)`);
    await q.query(
      `ALTER TABLE policies ADD CONSTRAINT ck_policies_apply_to CHECK (apply_to IN ('queues', 'exchanges', 'classic_queues', 'quorum_queues', 'streams'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE policies DROP CONSTRAINT ck_policies_apply_to`);
    await q.query(`DELETE FROM policies WHERE apply_to NOT IN ('queues', 'exchanges')`);
    await q.query(`ALTER TABLE policies ALTER COLUMN apply_to TYPE varchar(9)`);
    await q.query(
      `ALTER TABLE policies ADD CONSTRAINT ck_policies_apply_to CHECK (apply_to IN ('queues', 'exchanges'))`,
    );
  }
}
