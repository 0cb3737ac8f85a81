/**
 * The main flow of the crossdock API through the typed client generated from docs/openapi.json:
 * register two sites with a cluster each, federate an exchange from one to the other, read the
 * link's status and health, and read what the audit log recorded.
 *
 *   SITES_STATE=$(scripts/sites env) CROSSDOCK_URL=http://127.0.0.1:3000 \
 *     CROSSDOCK_TOKEN=<admin token> npx tsx examples/client/main-flow.ts
 *
 * SITES_STATE is the state file of the local sites (`scripts/sites up`): its first two sites
 * become the two clusters. Types come from crossdock-api.d.ts (`npm run client:types`); request
 * bodies, paths, query parameters and responses, errors included, are all checked by tsc.
 */
import { readFileSync } from 'node:fs';
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './crossdock-api';

type Schemas = components['schemas'];
export type CrossdockClient = Client<paths>;
export type Problem = Schemas['ProblemDetails'];

/** One cluster to register: its nodes and link endpoint, as `scripts/sites` describes them. */
export interface ClusterInput {
  brokerClusterName: string;
  nodes: Schemas['NodeDto'][];
  link: { host: string; port: number };
  credentials: { username: string; password: string };
}

export interface MainFlowResult {
  sites: Schemas['SiteView'][];
  clusters: Schemas['ClusterView'][];
  link: Schemas['FederationLinkView'];
  status: Schemas['LinkStatus'];
  health: Schemas['LinkHealthView'];
  audit: Schemas['AuditEventView'][];
}

export function crossdockClient(
  baseUrl: string,
  token: string,
  fetchImpl?: typeof fetch,
): CrossdockClient {
  return createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${token}` },
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

/** The data of a response, or an error naming the problem+json the API answered. */
function ok<T>(what: string, res: { data?: T; error?: unknown; response: Response }): T {
  if (res.data !== undefined) return res.data;
  const problem = res.error as Partial<Problem> | undefined;
  throw new Error(
    `${what}: ${res.response.status} ${problem?.code ?? ''} ${problem?.detail ?? ''}`.trim(),
  );
}

/**
 * Walks the flow. `suffix` keeps names unique when the flow runs more than once against the
 * same registry; `vhost` is the vhost both clusters manage and the link federates in.
 */
export async function mainFlow(
  client: CrossdockClient,
  clusters: [ClusterInput, ClusterInput],
  options: { suffix: string; vhost?: string },
): Promise<MainFlowResult> {
  const vhost = options.vhost ?? '/';
  const sites: Schemas['SiteView'][] = [];
  const registered: Schemas['ClusterView'][] = [];
  for (const [i, input] of clusters.entries()) {
    const site = ok(
      'create site',
      await client.POST('/sites', {
        body: {
          name: `dc${i + 1}-${options.suffix}`,
          region: `region-${i + 1}`,
          expectedRttMs: 20,
        },
      }),
    );
    sites.push(site);
    const cluster = ok(
      'create cluster',
      await client.POST('/clusters', {
        body: {
          siteId: site.id,
          name: `main-${options.suffix}`,
          brokerClusterName: input.brokerClusterName,
          nodes: input.nodes,
          linkEndpoints: [input.link],
          vhosts: [vhost],
          credentials: input.credentials,
        },
      }),
    );
    registered.push(cluster);
  }

  // Lists are pages: `{ items, nextCursor }`, filtered here by name.
  const found = ok(
    'list clusters',
    await client.GET('/clusters', {
      params: { query: { site: sites[0].name, name: registered[0].name } },
    }),
  );
  if (found.items[0]?.id !== registered[0].id) throw new Error('list clusters: not found by name');

  const link = ok(
    'create federation link',
    await client.POST('/links/federation', {
      body: {
        name: `orders-${options.suffix}`,
        kind: 'exchange',
        upstream: { clusterId: registered[0].id, vhost },
        downstream: { clusterId: registered[1].id, vhost },
        targets: ['orders'],
      },
    }),
  );

  // Errors are typed too: a second link with the same name is a 409 `duplicate-name`.
  const again = await client.POST('/links/federation', {
    body: {
      name: link.name,
      kind: 'exchange',
      upstream: { clusterId: registered[0].id, vhost },
      downstream: { clusterId: registered[1].id, vhost },
      targets: ['orders'],
    },
  });
  if (again.error?.code !== 'duplicate-name')
    throw new Error(`duplicate link: expected 409 duplicate-name, got ${again.response.status}`);

  const byId = { params: { path: { id: link.id } } };
  const status = ok('link status', await client.GET('/links/federation/{id}/status', byId));
  const health = ok('link health', await client.GET('/links/federation/{id}/health', byId));
  const audit = ok(
    'audit log',
    await client.GET('/audit', { params: { query: { resourceId: link.id, limit: 10 } } }),
  );
  return { sites, clusters: registered, link, status, health, audit: audit.items };
}

interface SitesStateFile {
  admin: { username: string; password: string };
  sites: {
    clusterName: string;
    nodes: {
      name: string;
      host: string;
      amqpPort: number;
      managementPort: number;
      type: 'disc' | 'ram';
    }[];
    link: { host: string; port: number };
  }[];
}

/** The first two local sites of a `scripts/sites` state file as cluster inputs. */
export function clustersFromSitesState(file: string): [ClusterInput, ClusterInput] {
  const state = JSON.parse(readFileSync(file, 'utf8')) as SitesStateFile;
  if (state.sites.length < 2) throw new Error(`${file}: needs two sites`);
  const input = (s: SitesStateFile['sites'][number]): ClusterInput => ({
    brokerClusterName: s.clusterName,
    nodes: s.nodes.map((n) => ({
      name: n.name,
      host: n.host,
      amqpPort: n.amqpPort,
      managementPort: n.managementPort,
      type: n.type,
    })),
    link: s.link,
    credentials: state.admin,
  });
  return [input(state.sites[0]), input(state.sites[1])];
}

async function main(): Promise<void> {
  const { CROSSDOCK_URL: url, CROSSDOCK_TOKEN: token, SITES_STATE: state } = process.env;
  if (!url || !token || !state)
    throw new Error('set CROSSDOCK_URL, CROSSDOCK_TOKEN and SITES_STATE (see the header)');
  const suffix = Date.now().toString(36);
  const r = await mainFlow(crossdockClient(url, token), clustersFromSitesState(state), {
    suffix,
  });
  const lines = [
    `sites:    ${r.sites.map((s) => s.name).join(', ')}`,
    `clusters: ${r.clusters.map((c) => `${c.name} (${c.id})`).join(', ')}`,
    `link:     ${r.link.name} (${r.link.id})`,
    `status:   ${r.status.verdict}${r.status.unavailable ? ` (${r.status.unavailable})` : ''}`,
    `health:   ${r.health.state}${r.health.reasons.map((x) => `; ${x.detail}`).join('')}`,
    `audit:    ${r.audit.map((e) => e.action).join(', ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
