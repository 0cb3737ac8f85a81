import type TestAgent from 'supertest/lib/agent';
import { bearer, bootstrapToken, uniqueName } from './api';
import type { LocalSite, SitesState } from './sites';

export interface RegisteredSite {
  siteId: string;
  clusterId: string;
  local: LocalSite;
}

/**
 * Registers a local site (from scripts/sites) through the API: one site, one cluster with the
 * local nodes, link endpoints through the WAN proxy, the given managed vhosts.
 */
export async function registerLocalSite(
  http: TestAgent,
  state: SitesState,
  local: LocalSite,
  vhosts: string[],
  extra: Record<string, unknown> = {},
): Promise<RegisteredSite> {
  const admin = bearer(bootstrapToken());
  const site = await http
    .post('/sites')
    .set(admin)
    .send({ name: uniqueName(local.name), region: local.name });
  if (site.status !== 201) throw new Error(`site: ${site.status} ${site.text}`);
  const cluster = await http
    .post('/clusters')
    .set(admin)
    .send({
      siteId: site.body.id,
      name: 'main',
      brokerClusterName: local.clusterName,
      linkEndpoints: [local.link],
      vhosts,
      credentials: state.admin,
      nodes: local.nodes.map((n) => ({
        name: n.name,
        host: n.host,
        amqpPort: n.amqpPort,
        managementPort: n.managementPort,
        type: n.type,
      })),
      ...extra,
    });
  if (cluster.status !== 201) throw new Error(`cluster: ${cluster.status} ${cluster.text}`);
  return { siteId: site.body.id, clusterId: cluster.body.id, local };
}
