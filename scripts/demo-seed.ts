/**
 * Registers the local demo sites (from the `scripts/sites` state file) with a running crossdock:
 * one site per local site, one cluster per site with its nodes, link endpoints through the WAN
 * proxy. Idempotent: what already exists is left alone. Never prints credentials.
 */
import { readFileSync } from 'node:fs';

interface LocalSite {
  name: string;
  clusterName: string;
  nodes: {
    name: string;
    host: string;
    amqpPort: number;
    managementPort: number;
    type: 'disc' | 'ram';
  }[];
  link: { host: string; port: number };
}

interface SitesState {
  admin: { username: string; password: string };
  sites: LocalSite[];
}

const base = process.env.CROSSDOCK_URL ?? 'http://127.0.0.1:3000';
const token = process.env.CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN;
const statePath = process.env.SITES_STATE;

async function api(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

async function findByName<T extends { name: string }>(
  path: string,
  name: string,
): Promise<T | undefined> {
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `?limit=200&cursor=${cursor}` : '?limit=200';
    const res = await api('GET', `${path}${q}`);
    const page = res.body as { items: T[]; nextCursor: string | null };
    const hit = page.items.find((x) => x.name === name);
    if (hit) return hit;
    cursor = page.nextCursor;
  } while (cursor);
  return undefined;
}

async function main(): Promise<void> {
  if (!token || !statePath)
    throw new Error('CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN and SITES_STATE must be set');
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as SitesState;
  for (const local of state.sites) {
    let site = await findByName<{ id: string; name: string }>('/sites', local.name);
    if (!site) {
      const res = await api('POST', '/sites', {
        name: local.name,
        region: `local-${local.name}`,
        description: `local demo site ${local.name}`,
        expectedRttMs: 20,
      });
      if (res.status !== 201) throw new Error(`creating site ${local.name}: HTTP ${res.status}`);
      site = res.body as { id: string; name: string };
    }
    const clusters = (await api('GET', `/clusters?siteId=${site.id}`)).body as {
      items: { name: string }[];
    };
    if (!clusters.items.some((c) => c.name === 'main')) {
      const res = await api('POST', '/clusters', {
        siteId: site.id,
        name: 'main',
        brokerClusterName: local.clusterName,
        linkEndpoints: [local.link],
        vhosts: ['/'],
        credentials: state.admin,
        nodes: local.nodes.map((n) => ({
          name: n.name,
          host: n.host,
          amqpPort: n.amqpPort,
          managementPort: n.managementPort,
          type: n.type,
        })),
      });
      if (res.status !== 201)
        throw new Error(`creating cluster ${local.name}/main: HTTP ${res.status}`);
    }
    console.error(
      `[demo] site ${local.name}: cluster main (${local.nodes.length} nodes) registered`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(`[demo] seeding failed: ${err instanceof Error ? err.message : 'unknown error'}`);
  process.exit(1);
});
