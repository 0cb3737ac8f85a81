import type { EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { paginate, type Page, type PageQueryDto } from '../common/http/pagination';
import type { Queryable } from '../database/queryable';
import { ClusterEntity } from './cluster.entity';
import { NodeEntity } from './node.entity';
import { slotColumns } from './link-users.repository';

/** The SQL of clusters and their nodes. */

type Orm = Pick<EntityManager, 'getRepository'>;
type Builder = Pick<EntityManager, 'createQueryBuilder'>;

export interface ClusterFilter {
  siteId?: string;
  /** Site id or name. */
  site?: string;
  name?: string;
}

/** The sealed secrets of a cluster row. */
export interface SealedClusterSecretsRow {
  admin_password_enc: string;
  a: string | null;
  b: string | null;
  tls_client_key_enc: string | null;
}

export async function writeAdminCredentials(
  m: Queryable,
  id: string,
  username: string,
  passwordEnc: string,
  endpoints: string[],
): Promise<void> {
  await m.query(
    `UPDATE clusters SET admin_username = $2, admin_password_enc = $3, credentials_endpoints = $4,
         credentials_version = credentials_version + 1 WHERE id = $1`,
    [id, username, passwordEnc, endpoints],
  );
}

export async function insertCluster(
  m: Builder,
  values: QueryDeepPartialEntity<ClusterEntity>,
): Promise<void> {
  await m.createQueryBuilder().insert().into(ClusterEntity).values(values).execute();
}

export async function insertNodes(
  m: Builder,
  values: QueryDeepPartialEntity<NodeEntity>[],
): Promise<void> {
  await m.createQueryBuilder().insert().into(NodeEntity).values(values).execute();
}

/** Inserts one node and returns its id. */
export async function insertNode(
  m: Builder,
  values: QueryDeepPartialEntity<NodeEntity>,
): Promise<string> {
  const res = await m
    .createQueryBuilder()
    .insert()
    .into(NodeEntity)
    .values(values)
    .returning('id')
    .execute();
  return (res.raw as { id: string }[])[0].id;
}

export function pageOfClusters(
  m: Orm,
  f: ClusterFilter,
  query: PageQueryDto,
): Promise<Page<ClusterEntity>> {
  const qb = m.getRepository(ClusterEntity).createQueryBuilder('c');
  if (f.siteId) qb.andWhere('c.site_id = :siteId', { siteId: f.siteId });
  if (f.site !== undefined)
    qb.andWhere('c.site_id IN (SELECT id FROM sites WHERE id::text = :site OR name = :site)', {
      site: f.site,
    });
  if (f.name !== undefined) qb.andWhere('c.name = :name', { name: f.name });
  return paginate(qb, query, (c) => c);
}

export function pageOfNodes<T>(
  m: Orm,
  clusterId: string,
  query: PageQueryDto,
  view: (n: NodeEntity) => T,
): Promise<Page<T>> {
  const qb = m
    .getRepository(NodeEntity)
    .createQueryBuilder('n')
    .where('n.cluster_id = :clusterId', { clusterId });
  return paginate(qb, query, view);
}

/** The cluster and those whose links, shovels or overflow rules connect to it. */
export async function clustersConnectingTo(m: Queryable, id: string): Promise<string[]> {
  const rows = await m.query<{ id: string }[]>(
    `SELECT $1::uuid AS id
       UNION SELECT downstream_cluster_id FROM federation_links WHERE upstream_cluster_id = $1
       UNION SELECT source_cluster_id FROM shovels WHERE destination_cluster_id = $1
       UNION SELECT cluster_id FROM overflow_rules WHERE remote_cluster_id = $1`,
    [id],
  );
  return rows.map((r) => r.id);
}

export async function bumpClusterVersion(m: Queryable, clusterId: string): Promise<void> {
  await m.query(`UPDATE clusters SET version = version + 1, updated_at = now() WHERE id = $1`, [
    clusterId,
  ]);
}

/** The cluster with its sealed admin password and TLS client key selected. */
export function clusterWithSecrets(m: Orm, id: string): Promise<ClusterEntity | null> {
  return m
    .getRepository(ClusterEntity)
    .createQueryBuilder('c')
    .addSelect('c.adminPasswordEnc')
    .addSelect('c.tlsClientKeyEnc')
    .where('c.id = :id', { id })
    .getOne();
}

/** The load balancer endpoint of a site (undefined: no such site). */
export async function siteLoadBalancerEndpoint(
  q: Queryable,
  siteId: string,
): Promise<{ host: string | null; port: number | null } | undefined> {
  const [site] = await q.query<{ host: string | null; port: number | null }[]>(
    `SELECT load_balancer_host AS host, load_balancer_port AS port FROM sites WHERE id = $1`,
    [siteId],
  );
  return site;
}

/** Cluster ids in registration order, all or those given. */
export async function clusterIds(q: Queryable, onlyIds?: string[]): Promise<string[]> {
  const rows = onlyIds
    ? await q.query<{ id: string }[]>(`SELECT id FROM clusters WHERE id = ANY($1) ORDER BY seq`, [
        onlyIds,
      ])
    : await q.query<{ id: string }[]>(`SELECT id FROM clusters ORDER BY seq`);
  return rows.map((r) => r.id);
}

/** Every sealed secret of a cluster, the row locked until the transaction ends. */
export async function lockSealedSecrets(
  m: Queryable,
  id: string,
): Promise<SealedClusterSecretsRow | undefined> {
  const [row] = await m.query<SealedClusterSecretsRow[]>(
    `SELECT admin_password_enc, ${slotColumns.a.password} AS a, ${slotColumns.b.password} AS b,
                tls_client_key_enc
         FROM clusters WHERE id = $1 FOR UPDATE`,
    [id],
  );
  return row;
}

/** Rewrites one sealed column (`column` is a fixed column name, never user input). */
export async function writeSealedColumn(
  m: Queryable,
  id: string,
  column: string,
  value: string,
): Promise<void> {
  await m.query(`UPDATE clusters SET ${column} = $2 WHERE id = $1`, [id, value]);
}
