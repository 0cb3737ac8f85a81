import type { EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import {
  isoTimestamp,
  paginateJson,
  type JsonText,
  type NamedPageQueryDto,
  type Page,
} from '../common/http/pagination';
import type { Queryable } from '../database/queryable';
import { SiteEntity } from './site.entity';

/** The SQL of sites. */

/** `siteView` in SQL, same keys in the same order (see paginateJson). */
const siteJsonColumns = `s.id, s.name, s.region, s.description,
  CASE WHEN s.load_balancer_host IS NOT NULL AND s.load_balancer_port IS NOT NULL
    THEN (SELECT row_to_json(lb) FROM (SELECT s.load_balancer_host AS host, s.load_balancer_port AS port) lb)
  END AS "loadBalancer",
  s.expected_rtt_ms AS "expectedRttMs", s.version,
  ${isoTimestamp('s.created_at')} AS "createdAt", ${isoTimestamp('s.updated_at')} AS "updatedAt"`;

/** Inserts a site and returns its id. */
export async function insertSite(
  m: Pick<EntityManager, 'createQueryBuilder'>,
  values: QueryDeepPartialEntity<SiteEntity>,
): Promise<string> {
  const res = await m
    .createQueryBuilder()
    .insert()
    .into(SiteEntity)
    .values(values)
    .returning('id')
    .execute();
  return (res.raw as { id: string }[])[0].id;
}

/** A page of sites as JSON built by Postgres, in the shape of the site view `V`. */
export function pageOfSitesJson<V>(
  q: Queryable,
  query: NamedPageQueryDto,
): Promise<JsonText<Page<V>>> {
  return paginateJson(
    (sql, params) => q.query(sql, params),
    {
      from: 'sites s',
      alias: 's',
      columns: siteJsonColumns,
      ...(query.name === undefined ? {} : { where: ['s.name = $1'], params: [query.name] }),
    },
    query,
  );
}

/** Up to 50 clusters of a site, oldest first. */
export function clustersOfSite(
  q: Queryable,
  siteId: string,
): Promise<{ id: string; name: string }[]> {
  return q.query<{ id: string; name: string }[]>(
    `SELECT id, name FROM clusters WHERE site_id = $1 ORDER BY seq LIMIT 50`,
    [siteId],
  );
}
