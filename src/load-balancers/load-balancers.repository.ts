import type { EntityManager } from 'typeorm';
import type { Queryable } from '../database/queryable';
import { SiteEntity } from '../sites/site.entity';
import { SiteLoadBalancerEntity } from './site-load-balancer.entity';

/** The SQL of site load balancers. */

type Orm = Pick<EntityManager, 'getRepository'>;

/** The site, locked for update until the transaction ends when `lock`. */
export function siteById(m: Orm, siteId: string, lock: boolean): Promise<SiteEntity | null> {
  const qb = m
    .getRepository(SiteEntity)
    .createQueryBuilder('s')
    .where('s.id = :siteId', { siteId });
  if (lock) qb.setLock('pessimistic_write');
  return qb.getOne();
}

/** The site's load balancer, locked for update until the transaction ends. */
export function lockLoadBalancer(m: Orm, siteId: string): Promise<SiteLoadBalancerEntity | null> {
  return m
    .getRepository(SiteLoadBalancerEntity)
    .createQueryBuilder('l')
    .setLock('pessimistic_write')
    .where('l.site_id = :siteId', { siteId })
    .getOne();
}

/** Moves the site's loadBalancer endpoint (a new site version). */
export async function moveSiteLoadBalancerEndpoint(
  m: Queryable,
  siteId: string,
  host: string,
  port: number,
): Promise<void> {
  await m.query(
    `UPDATE sites SET load_balancer_host = $2, load_balancer_port = $3, version = version + 1, updated_at = now() WHERE id = $1`,
    [siteId, host, port],
  );
}

/**
 * The load balancers of the cluster's site that front it (named, or none named), locked for
 * update until the transaction ends.
 */
export function lockLoadBalancersFronting(
  m: Orm,
  siteId: string,
  clusterId: string,
): Promise<SiteLoadBalancerEntity[]> {
  return m
    .getRepository(SiteLoadBalancerEntity)
    .createQueryBuilder('l')
    .setLock('pessimistic_write')
    .where('l.site_id = :siteId', { siteId })
    .andWhere('(l.cluster_id = :clusterId OR l.cluster_id IS NULL)', { clusterId })
    .getMany();
}
