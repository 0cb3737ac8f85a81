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
  wanProxy: { controlPort: number };
  sites: LocalSite[];
}

/** One-way delay the demo puts on each site's WAN link (RTT about twice that). */
const demoLatencyMs = 10;

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
  await demoLinks(state);
}

/** Basic-auth management call on a local site's first node (the demo's own brokers). */
async function mgmt(
  state: SitesState,
  local: LocalSite,
  method: string,
  path: string,
  body?: unknown,
) {
  const n = local.nodes[0];
  const auth = Buffer.from(`${state.admin.username}:${state.admin.password}`).toString('base64');
  const res = await fetch(`http://${n.host}:${n.managementPort}${path}`, {
    method,
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${method} ${path} on ${local.name}: HTTP ${res.status}`);
}

/**
 * A WAN-like link between dc1 and dc2: an `orders` fanout exchange federated from dc1 into dc2
 * (bound to a queue there, or nothing would cross), a shovel from dc2's `outbox` queue to dc1's
 * `inbox`, and a one-way delay on both WAN proxies. The probes then show the delay as lag:
 * GET /links/federation/{id}/health.
 */
async function demoLinks(state: SitesState): Promise<void> {
  const [dc1, dc2] = state.sites;
  if (!dc1 || !dc2) return;
  for (const s of [dc1, dc2])
    await mgmt(state, s, 'PUT', '/api/exchanges/%2F/orders', { type: 'fanout', durable: true });
  await mgmt(state, dc2, 'PUT', '/api/queues/%2F/orders.dc2', { durable: true });
  await mgmt(state, dc2, 'POST', '/api/bindings/%2F/e/orders/q/orders.dc2', { routing_key: '' });
  await mgmt(state, dc2, 'PUT', '/api/queues/%2F/outbox', { durable: true });
  await mgmt(state, dc1, 'PUT', '/api/queues/%2F/inbox', { durable: true });
  const clusterOf = async (siteName: string) => {
    const site = await findByName<{ id: string; name: string }>('/sites', siteName);
    const list = (await api('GET', `/clusters?siteId=${site?.id}`)).body as {
      items: { id: string; name: string }[];
    };
    return list.items.find((c) => c.name === 'main')?.id as string;
  };
  const c1 = await clusterOf(dc1.name);
  const c2 = await clusterOf(dc2.name);
  let fed = await findByName<{ id: string; name: string }>('/links/federation', 'demo-orders');
  if (!fed) {
    const res = await api('POST', '/links/federation', {
      name: 'demo-orders',
      kind: 'exchange',
      upstream: { clusterId: c1, vhost: '/' },
      downstream: { clusterId: c2, vhost: '/' },
      targets: ['orders'],
      settings: { reconnectDelaySeconds: 1 },
    });
    if (res.status !== 201)
      throw new Error(`creating the demo federation link: HTTP ${res.status}`);
    fed = res.body as { id: string; name: string };
  }
  if (!(await findByName('/links/shovels', 'demo-outbox'))) {
    const res = await api('POST', '/links/shovels', {
      name: 'demo-outbox',
      source: { clusterId: c2, vhost: '/', queue: 'outbox' },
      destination: { clusterId: c1, vhost: '/', queue: 'inbox' },
      settings: { reconnectDelaySeconds: 1 },
    });
    if (res.status !== 201) throw new Error(`creating the demo shovel: HTTP ${res.status}`);
  }
  for (const id of [c1, c2]) await api('POST', '/reconcile', { clusterId: id });
  for (const s of [dc1, dc2]) {
    const res = await fetch(
      `http://127.0.0.1:${state.wanProxy.controlPort}/proxies/${s.name}/latency`,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ upstreamMs: demoLatencyMs, downstreamMs: demoLatencyMs }),
        signal: AbortSignal.timeout(5000),
      },
    );
    await res.arrayBuffer();
  }
  console.error(
    `[demo] federation dc1 -> dc2 (orders) and shovel dc2 -> dc1 (outbox -> inbox), ${demoLatencyMs} ms one-way WAN delay: lag in GET /links/federation/${fed.id}/health`,
  );
}

main().catch((err: unknown) => {
  console.error(`[demo] seeding failed: ${err instanceof Error ? err.message : 'unknown error'}`);
  process.exit(1);
});
