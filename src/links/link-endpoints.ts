import type { EntityManager } from 'typeorm';
import { ClusterEntity } from '../clusters/cluster.entity';
import { DomainException, type FieldError } from '../common/errors/domain.exception';

export interface ResolvedEndpoint {
  cluster: ClusterEntity;
  vhost: string;
}

/**
 * Resolves both ends of a link and applies the rules every cross-site link shares: both
 * clusters exist, the vhosts are managed there, and the ends sit in different sites.
 */
export async function resolveLinkEnds(
  m: EntityManager,
  ends: { field: string; clusterId: string; vhost: string }[],
): Promise<ResolvedEndpoint[]> {
  const errors: FieldError[] = [];
  const out: ResolvedEndpoint[] = [];
  for (const end of ends) {
    const cluster = await m.getRepository(ClusterEntity).findOneBy({ id: end.clusterId });
    if (!cluster) throw DomainException.referenceNotFound(`${end.field}.clusterId`, 'cluster');
    if (!cluster.vhosts.includes(end.vhost)) {
      errors.push({
        field: `${end.field}.vhost`,
        message: `vhost is not managed on cluster ${cluster.name} (managed: ${cluster.vhosts.join(', ')})`,
      });
    }
    out.push({ cluster, vhost: end.vhost });
  }
  if (errors.length) throw DomainException.validation(errors);
  const [a, b] = out;
  if (a.cluster.id === b.cluster.id) {
    throw DomainException.validation([
      { field: ends[1].field, message: 'a link cannot connect a cluster to itself' },
    ]);
  }
  if (a.cluster.siteId === b.cluster.siteId) {
    throw DomainException.validation([
      {
        field: ends[1].field,
        message:
          'both ends are in the same site: cross-site links join different data centers (use clustering or mirroring inside a site)',
      },
    ]);
  }
  return out;
}
