import type { DataSource } from 'typeorm';
import type { HealthReason, HealthState, HealthThresholds } from './link-health';

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
    ds.query(
      `SELECT id, 'federation' AS kind, name, kind AS federation_kind, upstream_cluster_id AS from_id,
              downstream_cluster_id AS to_id, upstream_vhost AS from_vhost, downstream_vhost AS to_vhost,
              targets, target_prefix, NULL AS source_queue, paused, seq, broker_upstream_name,
              upstream_object
         FROM federation_links
       UNION ALL
       SELECT id, 'shovel', name, NULL, source_cluster_id, destination_cluster_id, source_vhost,
              destination_vhost, '{}'::text[], NULL, source_queue, paused OR completed_at IS NOT NULL, seq, NULL, NULL
         FROM shovels
       UNION ALL
       SELECT id, 'overflow', name, NULL, cluster_id, remote_cluster_id, vhost, remote_vhost,
              '{}'::text[], NULL, queue, NOT enabled, seq, NULL, NULL
         FROM overflow_rules
       ORDER BY seq`,
    ) as Promise<Record<string, unknown>[]>,
    ds.query(`SELECT id, broker_cluster_name, site_id, version FROM clusters`) as Promise<
      { id: string; broker_cluster_name: string; site_id: string; version: number }[]
    >,
    ds.query(`SELECT id, expected_rtt_ms FROM sites`) as Promise<
      { id: string; expected_rtt_ms: number }[]
    >,
    ds.query(`SELECT link_id, state, reasons, thresholds, since FROM link_health`) as Promise<
      {
        link_id: string;
        state: HealthState;
        reasons: HealthReason[];
        thresholds: Partial<HealthThresholds>;
        since: Date;
      }[]
    >,
  ]);
  const c = new Map(clusters.map((x) => [x.id, x]));
  const s = new Map(sites.map((x) => [x.id, x]));
  return {
    links: links.map((l) => ({
      id: l.id as string,
      kind: l.kind as LinkModel['kind'],
      name: l.name as string,
      federationKind: (l.federation_kind as LinkModel['federationKind']) ?? null,
      fromClusterId: l.from_id as string,
      toClusterId: l.to_id as string,
      fromVhost: l.from_vhost as string,
      toVhost: l.to_vhost as string,
      targets: (l.targets as string[]) ?? [],
      targetPrefix: (l.target_prefix as string | null) ?? null,
      brokerUpstream: (l.broker_upstream_name as string | null) ?? null,
      upstreamObject: (l.upstream_object as string | null) ?? null,
      sourceQueue: (l.source_queue as string | null) ?? null,
      paused: l.paused as boolean,
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
