import type { EntityManager } from 'typeorm';

/**
 * What a repository function runs its SQL on: the DataSource, or the EntityManager of the
 * caller's transaction (so the statement joins that transaction).
 */
export type Queryable = Pick<EntityManager, 'query'>;
