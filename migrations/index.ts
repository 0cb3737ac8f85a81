import { Registry1763776800000 } from './1763776800000-Registry';
import { Audit1763780400000 } from './1763780400000-Audit';
import { Links1763784000000 } from './1763784000000-Links';
import { Probes1763787600000 } from './1763787600000-Probes';
import { LinkCleanups1763788200000 } from './1763788200000-LinkCleanups';
import { LinkUserRotation1763788800000 } from './1763788800000-LinkUserRotation';
import { ObservedObjects1763789400000 } from './1763789400000-ObservedObjects';
import { Overflow1763791200000 } from './1763791200000-Overflow';
import { LinkBrokerUpstreamName1763800000000 } from './1763800000000-LinkBrokerUpstreamName';
import { PolicyQueueTypes1763810000000 } from './1763810000000-PolicyQueueTypes';
import { OneShotShovelsAndDeleteBlocks1765000000000 } from './1765000000000-OneShotShovelsAndDeleteBlocks';
import { ReconcileRequests1765001000000 } from './1765001000000-ReconcileRequests';
import { CredentialsEndpoints1765004000000 } from './1765004000000-CredentialsEndpoints';
import { SiteLoadBalancers1765008000000 } from './1765008000000-SiteLoadBalancers';
import { ClusterTls1765350000000 } from './1765350000000-ClusterTls';
import { LinkUpstreamObject1765370000000 } from './1765370000000-LinkUpstreamObject';
import { OverflowStates1765380000000 } from './1765380000000-OverflowStates';

import { TopologyObjects1765400000000 } from './1765400000000-TopologyObjects';
/** Migrations in order; listed explicitly so ts (tests) and js (dist) load the same set. */
export const migrations = [
  Registry1763776800000,
  Audit1763780400000,
  Links1763784000000,
  Probes1763787600000,
  LinkCleanups1763788200000,
  LinkUserRotation1763788800000,
  ObservedObjects1763789400000,
  Overflow1763791200000,
  LinkBrokerUpstreamName1763800000000,
  PolicyQueueTypes1763810000000,
  OneShotShovelsAndDeleteBlocks1765000000000,
  ReconcileRequests1765001000000,
  CredentialsEndpoints1765004000000,
  SiteLoadBalancers1765008000000,
  ClusterTls1765350000000,
  LinkUpstreamObject1765370000000,
  OverflowStates1765380000000,
  TopologyObjects1765400000000,
];
