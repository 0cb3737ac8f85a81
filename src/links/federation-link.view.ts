import type { FederationLinkEntity, FederationSettings } from './federation-link.entity';

export interface FederationLinkView {
  id: string;
  name: string;
  kind: 'exchange' | 'queue';
  downstream: { clusterId: string; vhost: string };
  /** `exchange` / `queue`: what the link pulls from upstream when it is named differently. */
  upstream: { clusterId: string; vhost: string; exchange: string | null; queue: string | null };
  targets: string[];
  targetPrefix: string | null;
  /** The upstream parameter's name on the broker when the link was adopted (else crossdock.up.<name>). */
  brokerUpstreamName: string | null;
  settings: FederationSettings;
  paused: boolean;
  deletionPolicy: 'delete' | 'retain';
  generation: number;
  appliedGeneration: number;
  version: number;
  warnings: string[];
  createdAt: string;
  updatedAt: string;
}

export function federationLinkView(
  l: FederationLinkEntity,
  warnings: string[] = [],
): FederationLinkView {
  return {
    id: l.id,
    name: l.name,
    kind: l.kind,
    downstream: { clusterId: l.downstreamClusterId, vhost: l.downstreamVhost },
    upstream: {
      clusterId: l.upstreamClusterId,
      vhost: l.upstreamVhost,
      exchange: l.kind === 'exchange' ? l.upstreamObject : null,
      queue: l.kind === 'queue' ? l.upstreamObject : null,
    },
    targets: l.targets,
    targetPrefix: l.targetPrefix,
    brokerUpstreamName: l.brokerUpstreamName,
    settings: l.settings,
    paused: l.paused,
    deletionPolicy: l.deletionPolicy,
    generation: l.generation,
    appliedGeneration: l.appliedGeneration,
    version: l.version,
    warnings,
    createdAt: l.createdAt.toISOString(),
    updatedAt: l.updatedAt.toISOString(),
  };
}
