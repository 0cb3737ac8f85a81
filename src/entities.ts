import { ApiTokenEntity } from './auth/api-token.entity';
import { ClusterEntity } from './clusters/cluster.entity';
import { NodeEntity } from './clusters/node.entity';
import { FederationLinkEntity } from './links/federation-link.entity';
import { SiteLoadBalancerEntity } from './load-balancers/site-load-balancer.entity';
import { ShovelEntity } from './links/shovel.entity';
import { OverflowRuleEntity } from './overflow/overflow-rule.entity';
import { PolicyEntity } from './policies/policy.entity';
import { SiteEntity } from './sites/site.entity';
import { TopologyObjectEntity } from './topology/topology-object.entity';

/** Every TypeORM entity, listed explicitly so the app, CLI and tests load the same set. */
export const entities = [
  OverflowRuleEntity,
  SiteEntity,
  ClusterEntity,
  NodeEntity,
  ApiTokenEntity,
  FederationLinkEntity,
  ShovelEntity,
  PolicyEntity,
  SiteLoadBalancerEntity,
  TopologyObjectEntity,
];
