import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One-shot shovels record their completion (the broker removed them by design); ledger rows say
 * whether the broker accepted the object at least once (a self-deleting object that is gone was
 * completed, one that never got there was not); a cluster whose pass stopped at the mass-delete
 * guard carries the block so users see it where they look.
 */
export class OneShotShovelsAndDeleteBlocks1765000000000 implements MigrationInterface {
  name = 'OneShotShovelsAndDeleteBlocks1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE shovels ADD COLUMN completed_at timestamptz, ADD COLUMN completion jsonb`,
    );
    // Existing rows were written by earlier passes; new ledger-first rows say false until then.
    await q.query(`ALTER TABLE managed_objects ADD COLUMN confirmed boolean NOT NULL DEFAULT true`);
    await q.query(`ALTER TABLE clusters ADD COLUMN delete_blocked jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE clusters DROP COLUMN delete_blocked`);
    await q.query(`ALTER TABLE managed_objects DROP COLUMN confirmed`);
    await q.query(`ALTER TABLE shovels DROP COLUMN completion, DROP COLUMN completed_at`);
  }
}
