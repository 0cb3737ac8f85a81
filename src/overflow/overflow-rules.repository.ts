import type { EntityManager, SelectQueryBuilder } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { Queryable } from '../database/queryable';
import { OverflowRuleEntity } from './overflow-rule.entity';

/** The SQL of the overflow rules' registry (the engine's own rows live in overflow-engine.repository). */

/** The filter of a rule list: rules on a cluster, by name. */
export interface OverflowRuleFilter {
  clusterId?: string;
  name?: string;
}

/** The distinct sites of the clusters, for audit targets. */
export async function distinctSiteIdsOfClusters(
  q: Queryable,
  clusterIds: string[],
): Promise<string[]> {
  const rows = await q.query<{ site_id: string }[]>(
    `SELECT DISTINCT site_id FROM clusters WHERE id = ANY($1)`,
    [clusterIds],
  );
  return rows.map((r) => r.site_id);
}

/** Inserts an overflow rule and returns its id. */
export async function insertOverflowRule(
  m: Pick<EntityManager, 'createQueryBuilder'>,
  values: QueryDeepPartialEntity<OverflowRuleEntity>,
): Promise<string> {
  const res = await m
    .createQueryBuilder()
    .insert()
    .into(OverflowRuleEntity)
    .values(values)
    .returning('id')
    .execute();
  return (res.raw as { id: string }[])[0].id;
}

/** The overflow rules, filtered (a query builder for the shared paginator). */
export function overflowRuleListQuery(
  m: Pick<EntityManager, 'getRepository'>,
  filter: OverflowRuleFilter,
): SelectQueryBuilder<OverflowRuleEntity> {
  const qb = m.getRepository(OverflowRuleEntity).createQueryBuilder('r');
  if (filter.clusterId) qb.andWhere('r.cluster_id = :c', { c: filter.clusterId });
  if (filter.name !== undefined) qb.andWhere('r.name = :name', { name: filter.name });
  return qb;
}
