import { DataSource, type EntityManager } from 'typeorm';
import { spillShovelSettings } from '../broker-topology/defaults';
import { ClusterEntity } from '../clusters/cluster.entity';
import { activeLinkCredential } from '../clusters/link-user-credentials';
import { SecretBox } from '../common/crypto/secret-box';
import { SiteEntity } from '../sites/site.entity';
import type { ObservedState } from './broker-state';
import type { RegistrySnapshot } from './compile';
import { probeVhost } from '../probes/probe-topology';
import { knownNames } from './known-objects';
import {
  declaredDestinations,
  declaredObjectsOf,
  federationLinksOf,
  linkTargets,
  overflowRulesOf,
  policiesFor,
  shovelsOf,
} from './registry-snapshot.repository';

/**
 * Reads everything the compiler needs for one cluster; `observed` decides regex overlaps. With
 * `placeholderCredentials` (validation inside a registry transaction) no link secret is read or
 * created: URIs carry a placeholder (`placeholderPassword`, default `placeholder`).
 */
export async function loadSnapshot(
  ds: DataSource | EntityManager,
  box: SecretBox,
  clusterId: string,
  observed: ObservedState,
  linkUserName: string,
  federationQueueMaxBytes: number,
  opts: { placeholderCredentials?: boolean; placeholderPassword?: string } = {},
): Promise<RegistrySnapshot> {
  const cluster = await ds.getRepository(ClusterEntity).findOneByOrFail({ id: clusterId });
  // Every cluster and site, but only what link URIs need (not observations): read per pass.
  // `tls` belongs to that: without it a link to a TLS cluster would be written as amqp://.
  const clusters = await ds.getRepository(ClusterEntity).find({
    select: { id: true, siteId: true, brokerClusterName: true, linkEndpoints: true, tls: true },
  });
  const sites = await ds.getRepository(SiteEntity).find({
    select: { id: true, loadBalancerHost: true, loadBalancerPort: true },
  });
  const links = await federationLinksOf(ds, clusterId);
  const shovels = await shovelsOf(ds, clusterId);
  const policies = await policiesFor(ds, clusterId, cluster.siteId);
  const declared = await declaredObjectsOf(ds, clusterId);
  // Overflow rules spill through a shovel: their path is probed like a shovel's (the gate).
  const overflow = await overflowRulesOf(ds, clusterId);
  const overflowShovels = overflow.map((r) => ({
    id: `overflow:${r.id}`,
    sourceClusterId: r.clusterId,
    destinationClusterId: r.remoteClusterId,
    settings: spillShovelSettings(r.prefetch),
    paused: !r.enabled,
  }));
  // Only the clusters this one connects to need their link credentials.
  const remote = new Set([
    ...links.filter((l) => l.downstreamClusterId === clusterId).map((l) => l.upstreamClusterId),
    ...shovels.filter((s) => s.sourceClusterId === clusterId).map((s) => s.destinationClusterId),
    ...overflowShovels
      .filter((s) => s.sourceClusterId === clusterId)
      .map((s) => s.destinationClusterId),
  ]);
  const linkCredentials: RegistrySnapshot['linkCredentials'] = {};
  for (const id of remote) {
    if (opts.placeholderCredentials || !(ds instanceof DataSource)) {
      linkCredentials[id] = {
        username: linkUserName,
        password: opts.placeholderPassword ?? 'placeholder',
      };
      continue;
    }
    const cred = await activeLinkCredential(ds, box, id, linkUserName);
    linkCredentials[id] = { username: cred.username, password: cred.password };
  }
  const known = knownNames(observed);
  return {
    cluster: {
      id: cluster.id,
      siteId: cluster.siteId,
      vhosts: cluster.vhosts,
      replication: cluster.replication,
    },
    clusters: Object.fromEntries(
      clusters.map((c) => [
        c.id,
        {
          id: c.id,
          siteId: c.siteId,
          brokerClusterName: c.brokerClusterName,
          linkEndpoints: c.linkEndpoints,
          tls: c.tls ? { serverName: c.tls.serverName, linkFiles: c.tls.linkFiles } : null,
        },
      ]),
    ),
    sites: Object.fromEntries(
      sites.map((s) => [
        s.id,
        {
          id: s.id,
          loadBalancer:
            s.loadBalancerHost && s.loadBalancerPort
              ? { host: s.loadBalancerHost, port: s.loadBalancerPort }
              : null,
        },
      ]),
    ),
    linkCredentials,
    overflowShovels,
    federationLinks: links,
    shovels,
    policies,
    declared: declared.map((d) => ({
      id: d.id,
      kind: d.kind,
      vhost: d.vhost,
      name: d.name,
      definition: d.definition,
    })),
    known,
    federationQueueMaxBytes,
  };
}

/** Does any other cluster connect to this one (so it needs the link user)? */
/** Per vhost, the destination queues shovels into this cluster declare themselves. */
export async function declaredByLinks(
  ds: DataSource,
  clusterId: string,
): Promise<Record<string, string[]>> {
  const rows = await declaredDestinations(ds, clusterId);
  const out: Record<string, string[]> = {};
  for (const r of rows) (out[r.vhost] ??= []).push(r.queue);
  return out;
}

export async function isLinkTarget(ds: DataSource, clusterId: string): Promise<string[]> {
  const rows = await linkTargets(ds, clusterId);
  // Live links also bring their probe path, which connects into crossdock's probe vhost.
  const probes = rows.some((r) => !r.paused) ? [probeVhost] : [];
  return [...new Set([...rows.map((r) => r.vhost), ...probes])];
}
