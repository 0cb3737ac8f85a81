import type { EntityManager, SelectQueryBuilder } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { LinkUserSlot } from '../clusters/link-user-credentials';
import type { Queryable } from '../database/queryable';
import { FederationLinkEntity } from './federation-link.entity';
import { ShovelEntity } from './shovel.entity';

/** The SQL of federation links and shovels (their registry rows are read through TypeORM). */

type Builder = Pick<EntityManager, 'createQueryBuilder'>;
type Orm = Pick<EntityManager, 'getRepository'>;

/** The filter of a link list: links touching a cluster, by name. */
export interface LinkFilter {
  clusterId?: string;
  name?: string;
}

/** What a preflight labels a cluster with and whose link user it checks. */
export interface PreflightClusterRow {
  name: string;
  link_user_slot: LinkUserSlot;
  site: string;
}

/** The sites of the clusters (one row per cluster found), for audit targets. */
export async function siteIdsOfClusters(q: Queryable, clusterIds: string[]): Promise<string[]> {
  const rows = await q.query<{ site_id: string }[]>(
    `SELECT site_id FROM clusters WHERE id = ANY($1)`,
    [clusterIds],
  );
  return rows.map((r) => r.site_id);
}

/** Retain: crossdock lets go of every broker object this owner has in the ledger. */
export async function releaseOwnedObjects(q: Queryable, owner: string): Promise<void> {
  await q.query(`DELETE FROM managed_objects WHERE owner = $1`, [owner]);
}

/** Names of the other links of this kind that federate the other way between the two clusters. */
export async function reverseLinkNames(
  q: Queryable,
  l: Pick<FederationLinkEntity, 'id' | 'kind' | 'downstreamClusterId' | 'upstreamClusterId'>,
): Promise<string[]> {
  const rows = await q.query<{ name: string }[]>(
    `SELECT name FROM federation_links WHERE kind = $1 AND downstream_cluster_id = $2 AND upstream_cluster_id = $3 AND id <> $4`,
    [l.kind, l.upstreamClusterId, l.downstreamClusterId, l.id],
  );
  return rows.map((r) => r.name);
}

/** Inserts a federation link and returns its id. */
export async function insertFederationLink(
  m: Builder,
  values: QueryDeepPartialEntity<FederationLinkEntity>,
): Promise<string> {
  const res = await m
    .createQueryBuilder()
    .insert()
    .into(FederationLinkEntity)
    .values(values)
    .returning('id')
    .execute();
  return (res.raw as { id: string }[])[0].id;
}

/** The federation links, filtered (a query builder for the shared paginator). */
export function federationLinkListQuery(
  m: Orm,
  filter: LinkFilter,
): SelectQueryBuilder<FederationLinkEntity> {
  const qb = m.getRepository(FederationLinkEntity).createQueryBuilder('l');
  if (filter.clusterId)
    qb.andWhere('(l.downstream_cluster_id = :c OR l.upstream_cluster_id = :c)', {
      c: filter.clusterId,
    });
  if (filter.name !== undefined) qb.andWhere('l.name = :name', { name: filter.name });
  return qb;
}

/**
 * Records the backlog cleanup of a deleted exchange-federation link: its upstream queue goes
 * once the downstream cluster no longer runs the link.
 */
export async function insertLinkCleanup(
  q: Queryable,
  row: Pick<
    FederationLinkEntity,
    | 'id'
    | 'name'
    | 'upstreamClusterId'
    | 'upstreamVhost'
    | 'downstreamVhost'
    | 'targets'
    | 'targetPrefix'
    | 'downstreamClusterId'
    | 'upstreamObject'
  >,
): Promise<void> {
  await q.query(
    `INSERT INTO federation_link_cleanups (link_id, link_name, upstream_cluster_id, upstream_vhost,
             downstream_cluster_id, downstream_vhost, downstream_cluster_name, targets, target_prefix,
             upstream_object)
           SELECT $1, $2, $3, $4, c.id, $5, c.broker_cluster_name, $6, $7, $9 FROM clusters c WHERE c.id = $8`,
    [
      row.id,
      row.name,
      row.upstreamClusterId,
      row.upstreamVhost,
      row.downstreamVhost,
      row.targets,
      row.targetPrefix,
      row.downstreamClusterId,
      row.upstreamObject,
    ],
  );
}

/** Inserts a shovel and returns its id. */
export async function insertShovel(
  m: Builder,
  values: QueryDeepPartialEntity<ShovelEntity>,
): Promise<string> {
  const res = await m
    .createQueryBuilder()
    .insert()
    .into(ShovelEntity)
    .values(values)
    .returning('id')
    .execute();
  return (res.raw as { id: string }[])[0].id;
}

/** The shovels, filtered (a query builder for the shared paginator). */
export function shovelListQuery(m: Orm, filter: LinkFilter): SelectQueryBuilder<ShovelEntity> {
  const qb = m.getRepository(ShovelEntity).createQueryBuilder('s');
  if (filter.clusterId)
    qb.andWhere('(s.source_cluster_id = :c OR s.destination_cluster_id = :c)', {
      c: filter.clusterId,
    });
  if (filter.name !== undefined) qb.andWhere('s.name = :name', { name: filter.name });
  return qb;
}

/** The cluster's name, link user slot and site name (undefined: not registered). */
export async function preflightCluster(
  q: Queryable,
  clusterId: string,
): Promise<PreflightClusterRow | undefined> {
  const [row] = await q.query<PreflightClusterRow[]>(
    `SELECT c.name, c.link_user_slot, s.name AS site FROM clusters c JOIN sites s ON s.id = c.site_id
        WHERE c.id = $1`,
    [clusterId],
  );
  return row;
}
