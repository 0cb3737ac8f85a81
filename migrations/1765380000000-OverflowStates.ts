import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Overflow rule states that tell whether the spill moves: `starting` (a spill shovel was started
 * and has moved nothing yet) and `failing` (it exists but moves nothing).
 */
export class OverflowStates1765380000000 implements MigrationInterface {
  name = 'OverflowStates1765380000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE overflow_rules DROP CONSTRAINT overflow_rules_state_check`);
    await q.query(
      `ALTER TABLE overflow_rules ADD CONSTRAINT overflow_rules_state_check
         CHECK (state IN ('inactive', 'starting', 'active', 'draining', 'suspended', 'failing'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `UPDATE overflow_rules SET state = 'active' WHERE state IN ('starting', 'failing')`,
    );
    await q.query(`ALTER TABLE overflow_rules DROP CONSTRAINT overflow_rules_state_check`);
    await q.query(
      `ALTER TABLE overflow_rules ADD CONSTRAINT overflow_rules_state_check
         CHECK (state IN ('inactive', 'active', 'draining', 'suspended'))`,
    );
  }
}
