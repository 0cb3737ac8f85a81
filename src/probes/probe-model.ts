import type { DataSource } from 'typeorm';
import type { HealthReason, HealthState, HealthThresholds } from './link-health';
import {
  linkModelRows,
  probeClusterRows,
  siteRttRows,
  storedHealthRows,
} from './probes.repository';

/** One user link as the probes and the health evaluation see it (both kinds, one shape). */
export interface LinkModel {
  id: string;
  /** Overflow rules travel as shovels (their path gates the overflow); they have no link health. */
  kind: 'federation' | 'shovel' | 'overflow';
  name: string;
  /** Federation links: exchange or queue federation. */
  federationKind: 'exchange' | 'queue' | null;
  /** Where data comes from (upstream / shovel source) and where it goes. */
  fromClusterId: string;
  toClusterId: string;
  fromVhost: string;
  toVhost: string;
  targets: string[];
  targetPrefix: string | null;
  /** Federation links adopted from a hand-made upstream keep its name on the broker. */
  brokerUpstream?: string | null;
  /** Federation links: the upstream exchange or queue when named differently. */
  upstreamObject?: string | null;
  sourceQueue: string | null;
  paused: boolean;
}

export interface StoredHealth {
  state: HealthState;
  reasons: HealthReason[];
  thresholds: Partial<HealthThresholds>;
  since: Date;
}

export interface ProbeModel {
  links: LinkModel[];
  health: Map<string, StoredHealth>;
  clusterName: (id: string) => string;
  clusterSite: (id: string) => string | undefined;
  clusterVersion: (id: string) => number;
  rtt: (clusterId: string) => number;
}

/** Everything a probe round needs from the registry, in four queries. */
export async function loadLinkModel(ds: DataSource): Promise<ProbeModel> {
  const [links, clusters, sites, health] = await Promise.all([
    linkModelRows(ds),
    probeClusterRows(ds),
    siteRttRows(ds),
    storedHealthRows(ds),
  ]);
  const c = new Map(clusters.map((x) => [x.id, x]));
  const s = new Map(sites.map((x) => [x.id, x]));
  return {
    links: links.map((l) => ({
      id: l.id,
      kind: l.kind,
      name: l.name,
      federationKind: l.federation_kind ?? null,
      fromClusterId: l.from_id,
      toClusterId: l.to_id,
      fromVhost: l.from_vhost,
      toVhost: l.to_vhost,
      targets: l.targets ?? [],
      targetPrefix: l.target_prefix ?? null,
      brokerUpstream: l.broker_upstream_name ?? null,
      upstreamObject: l.upstream_object ?? null,
      sourceQueue: l.source_queue ?? null,
      paused: l.paused,
    })),
    health: new Map(
      health.map((h) => [
        h.link_id,
        { state: h.state, reasons: h.reasons, thresholds: h.thresholds, since: h.since },
      ]),
    ),
    clusterName: (id) => c.get(id)?.broker_cluster_name ?? id,
    clusterSite: (id) => c.get(id)?.site_id,
    clusterVersion: (id) => c.get(id)?.version ?? 0,
    rtt: (id) => s.get(c.get(id)?.site_id ?? '')?.expected_rtt_ms ?? 50,
  };
}
