import type { EntityManager } from 'typeorm';
import type { Queryable } from '../database/queryable';
import { FederationLinkEntity } from '../links/federation-link.entity';
import { ShovelEntity } from '../links/shovel.entity';
import { PolicyEntity } from '../policies/policy.entity';
import { TopologyObjectEntity } from '../topology/topology-object.entity';

/** The SQL of the registry snapshot: what the compiler reads for one cluster. */

type Orm = Pick<EntityManager, 'getRepository'>;

/** An overflow rule spilling from or into the cluster. */
export interface OverflowRuleRow {
  id: string;
  cluster_id: string;
  remote_cluster_id: string;
  prefetch: number;
  enabled: boolean;
}

export interface OverflowRuleEnds {
  id: string;
  clusterId: string;
  remoteClusterId: string;
  prefetch: number;
  enabled: boolean;
}

/** A destination queue a shovel into the cluster declares itself. */
export interface DeclaredDestinationRow {
  vhost: string;
  queue: string;
}

/** A vhost some link, shovel or overflow rule connects into on the cluster. */
export interface LinkTargetRow {
  vhost: string;
  paused: boolean;
}

/** The federation links downstream or upstream of the cluster, oldest first. */
export function federationLinksOf(m: Orm, clusterId: string): Promise<FederationLinkEntity[]> {
  return m
    .getRepository(FederationLinkEntity)
    .createQueryBuilder('l')
    .where('l.downstream_cluster_id = :id OR l.upstream_cluster_id = :id', { id: clusterId })
    .orderBy('l.seq')
    .getMany();
}

/** The shovels out of or into the cluster, oldest first. */
export function shovelsOf(m: Orm, clusterId: string): Promise<ShovelEntity[]> {
  return m
    .getRepository(ShovelEntity)
    .createQueryBuilder('s')
    .where('s.source_cluster_id = :id OR s.destination_cluster_id = :id', { id: clusterId })
    .orderBy('s.seq')
    .getMany();
}

/** The global policies, the cluster's, and its site's, oldest first. */
export function policiesFor(m: Orm, clusterId: string, siteId: string): Promise<PolicyEntity[]> {
  return m
    .getRepository(PolicyEntity)
    .createQueryBuilder('p')
    .where(
      `p.scope = 'global' OR (p.scope = 'cluster' AND p.cluster_id = :id) OR (p.scope = 'site' AND p.site_id = :site)`,
      {
        id: clusterId,
        site: siteId,
      },
    )
    .orderBy('p.seq')
    .getMany();
}

/** The exchanges, queues and bindings declared on the cluster, oldest first. */
export function declaredObjectsOf(m: Orm, clusterId: string): Promise<TopologyObjectEntity[]> {
  return m
    .getRepository(TopologyObjectEntity)
    .createQueryBuilder('t')
    .where('t.cluster_id = :id', { id: clusterId })
    .orderBy('t.seq')
    .getMany();
}

/** The overflow rules spilling from or into the cluster, oldest first. */
export async function overflowRulesOf(
  q: Queryable,
  clusterId: string,
): Promise<OverflowRuleEnds[]> {
  const rows = await q.query<OverflowRuleRow[]>(
    `SELECT id, cluster_id, remote_cluster_id, prefetch, enabled FROM overflow_rules
      WHERE cluster_id = $1 OR remote_cluster_id = $1 ORDER BY seq`,
    [clusterId],
  );
  return rows.map((r) => ({
    id: r.id,
    clusterId: r.cluster_id,
    remoteClusterId: r.remote_cluster_id,
    prefetch: r.prefetch,
    enabled: r.enabled,
  }));
}

/** The destination queues shovels into the cluster declare themselves (settings.declareDestination). */
export function declaredDestinations(
  q: Queryable,
  clusterId: string,
): Promise<DeclaredDestinationRow[]> {
  return q.query<DeclaredDestinationRow[]>(
    `SELECT destination_vhost AS vhost, destination_queue AS queue FROM shovels
      WHERE destination_cluster_id = $1 AND destination_queue IS NOT NULL
        AND settings ->> 'declareDestination' = 'true'`,
    [clusterId],
  );
}

/** The vhosts links, shovels and overflow rules connect into on the cluster, and whether paused. */
export function linkTargets(q: Queryable, clusterId: string): Promise<LinkTargetRow[]> {
  return q.query<LinkTargetRow[]>(
    `SELECT upstream_vhost AS vhost, paused FROM federation_links WHERE upstream_cluster_id = $1
     UNION SELECT destination_vhost, paused FROM shovels WHERE destination_cluster_id = $1
     UNION SELECT remote_vhost, NOT enabled FROM overflow_rules WHERE remote_cluster_id = $1`,
    [clusterId],
  );
}
