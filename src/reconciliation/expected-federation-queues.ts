import type { FederationQueueRef } from '../broker-topology/broker-paths';
import { probeNames, probeVhost } from '../probes/probe-topology';
import type { RegistrySnapshot } from './compile';

/**
 * The exchange-federation backlog queues that links pulling from this cluster explain, and those
 * of their probe paths: every federation link (exchange or queue) has one, from this cluster's
 * probe exchange for the downstream cluster, in the probe vhost.
 */
export function expectedFederationQueues(
  s: RegistrySnapshot,
  clusterId: string,
): FederationQueueRef[] {
  const refs: FederationQueueRef[] = [];
  const probePaths = new Set<string>();
  for (const l of s.federationLinks) {
    if (l.upstreamClusterId !== clusterId) continue;
    const downstream = s.clusters[l.downstreamClusterId]?.brokerClusterName;
    if (!downstream) continue;
    if (!probePaths.has(l.downstreamClusterId)) {
      probePaths.add(l.downstreamClusterId);
      const exchange = probeNames.exchange(clusterId, l.downstreamClusterId);
      refs.push({
        vhost: probeVhost,
        exchange,
        downstreamCluster: downstream,
        downstreamVhost: probeVhost,
        downstreamExchange: exchange,
      });
    }
    if (l.kind !== 'exchange') continue;
    const names =
      l.targetPrefix !== null
        ? (s.known[l.upstreamVhost]?.exchanges ?? []).filter((x) =>
            x.startsWith(l.targetPrefix as string),
          )
        : l.targets;
    for (const x of names)
      refs.push({
        vhost: l.upstreamVhost,
        exchange: l.upstreamObject ?? x,
        downstreamCluster: downstream,
        downstreamVhost: l.downstreamVhost,
        downstreamExchange: x,
      });
  }
  return refs;
}
