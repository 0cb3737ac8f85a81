import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { DomainException } from '../common/errors/domain.exception';

interface Versioned extends ObjectLiteral {
  id: string;
  version: number;
}

async function missingOrStale(
  m: EntityManager,
  target: EntityTarget<ObjectLiteral>,
  label: string,
  id: string,
): Promise<never> {
  const exists = await m.getRepository(target).exist({ where: { id } });
  if (!exists) throw DomainException.notFound(label, id);
  throw DomainException.preconditionFailed(
    `${label} ${id} was changed by someone else; read it again and retry with its new ETag`,
  );
}

/**
 * Optimistic concurrency inside the UPDATE itself (`WHERE id = $1 AND version = $2`), so two
 * writers holding the same ETag cannot both win. Returns the row as it is after the update.
 */
export async function updateVersioned<E extends Versioned>(
  m: EntityManager,
  target: EntityTarget<E>,
  label: string,
  id: string,
  expected: number | undefined,
  values: QueryDeepPartialEntity<E>,
): Promise<E> {
  const qb = m
    .createQueryBuilder()
    .update(target)
    .set({
      ...values,
      version: () => 'version + 1',
      updatedAt: () => 'now()',
    } as QueryDeepPartialEntity<E>)
    .where('id = :id', { id });
  if (expected !== undefined) qb.andWhere('version = :expected', { expected });
  const res = await qb.execute();
  if (!res.affected) return missingOrStale(m, target as EntityTarget<ObjectLiteral>, label, id);
  return m.getRepository(target).findOneByOrFail({ id } as never);
}

/** Locks the row for the rest of the transaction, checking existence and the expected version. */
export async function lockVersioned<E extends Versioned>(
  m: EntityManager,
  target: EntityTarget<E>,
  label: string,
  id: string,
  expected: number | undefined,
): Promise<E> {
  const row = await m
    .getRepository(target)
    .createQueryBuilder('r')
    .setLock('pessimistic_write')
    .where('r.id = :id', { id })
    .getOne();
  if (!row) throw DomainException.notFound(label, id);
  if (expected !== undefined && row.version !== expected) {
    throw DomainException.preconditionFailed(
      `${label} ${id} was changed by someone else; read it again and retry with its new ETag`,
    );
  }
  return row;
}

/** Deletes with the same precondition; foreign-key violations surface as 23503 for the caller. */
export async function deleteVersioned<E extends Versioned>(
  m: EntityManager,
  target: EntityTarget<E>,
  label: string,
  id: string,
  expected: number | undefined,
): Promise<void> {
  const qb = m.createQueryBuilder().delete().from(target).where('id = :id', { id });
  if (expected !== undefined) qb.andWhere('version = :expected', { expected });
  const res = await qb.execute();
  if (!res.affected) await missingOrStale(m, target as EntityTarget<ObjectLiteral>, label, id);
}
