import type { EntityManager } from 'typeorm';
import { paginate, type Page, type PageQueryDto } from '../common/http/pagination';
import type { Queryable } from '../database/queryable';
import { ApiTokenEntity } from './api-token.entity';

/** The SQL of API tokens. */

/** Whether a real admin token is usable (not revoked, not expired). */
export async function liveAdminTokenExists(q: Queryable): Promise<boolean> {
  const [row] = await q.query<{ admin: boolean }[]>(
    `SELECT EXISTS (SELECT 1 FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL
         AND (expires_at IS NULL OR expires_at > now())) AS admin`,
  );
  return row.admin;
}

/** The live (not revoked, not expired) token with this hash. */
export function liveTokenByHash(
  m: Pick<EntityManager, 'getRepository'>,
  hash: Buffer,
): Promise<ApiTokenEntity | null> {
  return m
    .getRepository(ApiTokenEntity)
    .createQueryBuilder('t')
    .where('t.token_hash = :hash', { hash })
    .andWhere('t.revoked_at IS NULL')
    .andWhere('(t.expires_at IS NULL OR t.expires_at > now())')
    .getOne();
}

export async function touchTokenLastUsed(q: Queryable, id: string): Promise<void> {
  await q.query(`UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, [id]);
}

export async function insertToken(
  m: Pick<EntityManager, 'getRepository'>,
  values: Pick<ApiTokenEntity, 'name' | 'role' | 'prefix' | 'tokenHash' | 'expiresAt'>,
): Promise<string> {
  const inserted = await m
    .getRepository(ApiTokenEntity)
    .createQueryBuilder()
    .insert()
    .values(values)
    .returning('id')
    .execute();
  return (inserted.raw as { id: string }[])[0].id;
}

export function pageOfTokens<T>(
  m: Pick<EntityManager, 'getRepository'>,
  query: PageQueryDto,
  view: (t: ApiTokenEntity) => T,
): Promise<Page<T>> {
  return paginate(m.getRepository(ApiTokenEntity).createQueryBuilder('t'), query, view);
}

/** The token row, locked for update until the transaction ends. */
export function lockTokenForUpdate(
  m: Pick<EntityManager, 'getRepository'>,
  id: string,
): Promise<ApiTokenEntity | null> {
  return m
    .getRepository(ApiTokenEntity)
    .createQueryBuilder('t')
    .setLock('pessimistic_write')
    .where('t.id = :id', { id })
    .getOne();
}

export async function markTokenRevoked(q: Queryable, id: string): Promise<void> {
  await q.query(
    `UPDATE api_tokens SET revoked_at = now(), version = version + 1, updated_at = now() WHERE id = $1`,
    [id],
  );
}
