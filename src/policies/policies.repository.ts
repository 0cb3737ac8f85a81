import type { EntityManager, InsertResult } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { paginate, type Page, type PageQueryDto } from '../common/http/pagination';
import type { Queryable } from '../database/queryable';
import { PolicyEntity } from './policy.entity';

/** The SQL of policies. */

export interface PolicyClusterRow {
  id: string;
  site_id: string;
}

export interface BlastRadiusRow {
  id: string;
  name: string;
  /** Queues last observed in the vhost (null: never observed). */
  queues: number | null;
}

export interface PolicyFilter {
  clusterId?: string;
  siteId?: string;
  name?: string;
}

/** The clusters a policy of this scope lands on. */
export function clustersInScope(
  m: Queryable,
  p: { scope: string; clusterId: string | null; siteId: string | null },
): Promise<PolicyClusterRow[]> {
  return m.query<PolicyClusterRow[]>(
    p.scope === 'cluster'
      ? `SELECT id, site_id FROM clusters WHERE id = $1`
      : p.scope === 'site'
        ? `SELECT id, site_id FROM clusters WHERE site_id = $1`
        : `SELECT id, site_id FROM clusters`,
    p.scope === 'global' ? [] : [p.scope === 'cluster' ? p.clusterId : p.siteId],
  );
}

/** Those of the clusters that carry the vhost, with its queues as last observed. */
export function vhostQueueCounts(
  m: Queryable,
  clusterIds: string[],
  vhost: string,
): Promise<BlastRadiusRow[]> {
  return m.query<BlastRadiusRow[]>(
    `SELECT id, name,
              CASE WHEN observed_objects IS NULL THEN NULL
                   ELSE COALESCE(jsonb_array_length(observed_objects->'known'->$2->'queues'), 0) END AS queues
         FROM clusters WHERE id = ANY($1::uuid[]) AND $2 = ANY(vhosts) ORDER BY seq`,
    [clusterIds, vhost],
  );
}

export function insertPolicy(
  m: Pick<EntityManager, 'createQueryBuilder'>,
  values: QueryDeepPartialEntity<PolicyEntity>,
): Promise<InsertResult> {
  return m
    .createQueryBuilder()
    .insert()
    .into(PolicyEntity)
    .values(values)
    .returning('id')
    .execute();
}

export function pageOfPolicies<T>(
  m: Pick<EntityManager, 'getRepository'>,
  f: PolicyFilter,
  query: PageQueryDto,
  view: (p: PolicyEntity) => T,
): Promise<Page<T>> {
  const qb = m.getRepository(PolicyEntity).createQueryBuilder('p');
  if (f.clusterId) qb.andWhere('p.cluster_id = :c', { c: f.clusterId });
  if (f.siteId) qb.andWhere('p.site_id = :s', { s: f.siteId });
  if (f.name !== undefined) qb.andWhere('p.name = :name', { name: f.name });
  return paginate(qb, query, view);
}
