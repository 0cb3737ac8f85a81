/**
 * Registers the local demo sites (from the `scripts/sites` state file) with a running crossdock:
 * one site per local site, one cluster per site with its nodes, link endpoints through the WAN
 * proxy. Idempotent: what already exists is left alone, except the admin credentials, which
 * follow the running sites (`scripts/sites down` + `up` gives them a new password). Then waits
 * until both clusters are observable and the demo links healthy, and fails (naming what is not)
 * otherwise. Never prints credentials.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

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
/** Probe lag p95 above this makes a demo link degraded. */
const demoLagDegradedMs = 500;

const base = process.env.CROSSDOCK_URL ?? 'http://127.0.0.1:3000';
const token = process.env.CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN;
const statePath = process.env.SITES_STATE;
/** Which credentials were last given to which cluster (hashes only), mode 600. */
const syncedPath = process.env.DEMO_SYNCED_FILE;
const readyTimeoutMs = Number(process.env.DEMO_READY_TIMEOUT_MS ?? 60000);

/** Something the demo cannot fix by itself; the message says what to do. */
class DemoError extends Error {}

interface ClusterRow {
  id: string;
  name: string;
  brokerClusterName: string;
  nodes: { name: string; host: string; amqpPort: number; managementPort: number }[];
}

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
  const res = await api('GET', `${path}?name=${encodeURIComponent(name)}`);
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return (res.body as { items: T[] }).items[0];
}

async function main(): Promise<void> {
  if (!token || !statePath)
    throw new Error('CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN and SITES_STATE must be set');
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as SitesState;
  const clusterIds: string[] = [];
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
    const found = (await api('GET', `/clusters?site=${site.id}&name=main`)).body as {
      items: ClusterRow[];
    };
    let cluster = found.items[0];
    if (!cluster) {
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
      cluster = res.body as ClusterRow;
      remember(cluster.id, state);
    } else {
      checkSameSites(cluster, local);
      await syncCredentials(cluster.id, local, state);
    }
    clusterIds.push(cluster.id);
    console.error(
      `[demo] site ${local.name}: cluster main (${local.nodes.length} nodes) registered`,
    );
  }
  const links = await demoLinks(state);
  await waitReady(state, clusterIds, links);
}

const fingerprint = (clusterId: string, state: SitesState) =>
  createHash('sha256')
    .update(`${clusterId}\0${state.admin.username}\0${state.admin.password}`)
    .digest('hex');

function synced(): Record<string, string> {
  if (!syncedPath) return {};
  try {
    return JSON.parse(readFileSync(syncedPath, 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

function remember(clusterId: string, state: SitesState): void {
  if (!syncedPath) return;
  const all = { ...synced(), [clusterId]: fingerprint(clusterId, state) };
  writeFileSync(syncedPath, JSON.stringify(all), { mode: 0o600 });
}

/**
 * The sites were re-created (new admin password) since the cluster was registered: give the
 * registry the running sites' credentials. The change itself starts a reconcile pass.
 */
async function syncCredentials(
  clusterId: string,
  local: LocalSite,
  state: SitesState,
): Promise<void> {
  if (synced()[clusterId] === fingerprint(clusterId, state)) return;
  const res = await api('PUT', `/clusters/${clusterId}/credentials`, state.admin);
  if (res.status !== 200)
    throw new Error(`updating the credentials of ${local.name}/main: HTTP ${res.status}`);
  remember(clusterId, state);
  console.error(`[demo] site ${local.name}: admin credentials re-synced with the running sites`);
}

/** A registered cluster on other ports or under another name is not the running site. */
function checkSameSites(cluster: ClusterRow, local: LocalSite): void {
  const want = local.nodes.map((n) => `${n.name} ${n.host}:${n.amqpPort}/${n.managementPort}`);
  const have = cluster.nodes.map((n) => `${n.name} ${n.host}:${n.amqpPort}/${n.managementPort}`);
  if (
    cluster.brokerClusterName !== local.clusterName ||
    want.slice().sort().join(',') !== have.slice().sort().join(',')
  ) {
    throw new DemoError(
      `the registered cluster ${local.name}/main does not match the running site ` +
        `(other ports or cluster name: the sites were started with another --base-port). ` +
        `Start over with: scripts/demo --reset`,
    );
  }
}

/**
 * Declares an exchange, queue or binding through crossdock (`POST /exchanges`, `/queues`,
 * `/bindings`); the next pass creates it on the broker. Already declared (a re-run): 409, fine.
 */
async function declare(path: '/exchanges' | '/queues' | '/bindings', body: object) {
  const res = await api('POST', path, body);
  if (res.status !== 201 && res.status !== 409)
    throw new Error(`declaring ${JSON.stringify(body)} (${path}): HTTP ${res.status}`);
}

/**
 * A WAN-like link between dc1 and dc2: an `orders` fanout exchange federated from dc1 into dc2
 * (bound to a queue there, or nothing would cross), a shovel from dc2's `outbox` queue to dc1's
 * `inbox`, and a one-way delay on both WAN proxies. The probes then show the delay as lag:
 * GET /links/federation/{id}/health.
 */
async function demoLinks(state: SitesState): Promise<DemoLinks | undefined> {
  const [dc1, dc2] = state.sites;
  if (!dc1 || !dc2) return undefined;
  const clusterOf = async (siteName: string) => {
    const list = (await api('GET', `/clusters?site=${siteName}&name=main`)).body as {
      items: { id: string }[];
    };
    return list.items[0]?.id as string;
  };
  const c1 = await clusterOf(dc1.name);
  const c2 = await clusterOf(dc2.name);
  // The demo's own exchanges, queues and bindings, declared through crossdock like the links.
  for (const clusterId of [c1, c2])
    await declare('/exchanges', { clusterId, vhost: '/', name: 'orders', type: 'fanout' });
  await declare('/queues', { clusterId: c2, vhost: '/', name: 'orders.dc2' });
  await declare('/bindings', {
    clusterId: c2,
    vhost: '/',
    source: 'orders',
    destinationType: 'queue',
    destination: 'orders.dc2',
    routingKey: '',
  });
  await declare('/queues', { clusterId: c2, vhost: '/', name: 'outbox' });
  await declare('/queues', { clusterId: c1, vhost: '/', name: 'inbox' });
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
  let shovel = await findByName<{ id: string; name: string }>('/links/shovels', 'demo-outbox');
  if (!shovel) {
    const res = await api('POST', '/links/shovels', {
      name: 'demo-outbox',
      source: { clusterId: c2, vhost: '/', queue: 'outbox' },
      destination: { clusterId: c1, vhost: '/', queue: 'inbox' },
      settings: { reconnectDelaySeconds: 1 },
    });
    if (res.status !== 201) throw new Error(`creating the demo shovel: HTTP ${res.status}`);
    shovel = res.body as { id: string; name: string };
  }
  // Degraded means "slower than this WAN should be": the demo's RTT is about 20 ms, and a busy
  // laptop adds its own delay, so the bar sits well above both.
  for (const path of [`/links/federation/${fed.id}`, `/links/shovels/${shovel.id}`]) {
    const res = await api('PUT', `${path}/health/thresholds`, { lagDegradedMs: demoLagDegradedMs });
    if (res.status !== 200)
      throw new Error(`setting health thresholds on ${path}: HTTP ${res.status}`);
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
    `[demo] federation dc1 -> dc2 (orders) and shovel dc2 -> dc1 (outbox -> inbox), ${demoLatencyMs} ms one-way WAN delay`,
  );
  return { federationId: fed.id, shovelId: shovel.id };
}

interface DemoLinks {
  federationId: string;
  shovelId: string;
}

/**
 * Success is only printed for a demo that works: every cluster answers its management API with
 * the registered credentials, and the demo links are healthy. Otherwise this fails, saying what
 * is not ready and why.
 */
async function waitReady(
  state: SitesState,
  clusterIds: string[],
  links: DemoLinks | undefined,
): Promise<void> {
  const started = Date.now();
  const deadline = started + readyTimeoutMs;
  const pending = new Map<string, string>();
  for (;;) {
    pending.clear();
    for (const [i, id] of clusterIds.entries()) {
      const res = await api('POST', `/clusters/${id}/observation`);
      const obs = res.body as {
        clusterName?: string | null;
        perNode?: { error?: { message?: string } }[];
      };
      if (res.status !== 200 || !obs.clusterName) {
        const why = obs.perNode?.find((n) => n.error)?.error?.message ?? `HTTP ${res.status}`;
        pending.set(`cluster ${state.sites[i]?.name}/main`, `not observable (${why})`);
      }
    }
    if (links) {
      for (const [kind, id, name] of [
        ['federation', links.federationId, 'demo-orders'],
        ['shovels', links.shovelId, 'demo-outbox'],
      ] as const) {
        const res = await api('GET', `/links/${kind}/${id}/health`);
        const health = res.body as { state?: string; reasons?: { detail?: string }[] };
        if (health.state !== 'healthy')
          pending.set(
            `link ${name}`,
            `${health.state ?? `HTTP ${res.status}`}${health.reasons?.[0]?.detail ? `: ${health.reasons[0].detail}` : ''}`,
          );
      }
    }
    if (pending.size === 0) {
      console.error(
        `[demo] both clusters observable and the demo links healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      return;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const lines = [...pending].map(([what, why]) => `  ${what}: ${why}`).join('\n');
  throw new DemoError(
    `not ready after ${readyTimeoutMs / 1000} s:\n${lines}\n` +
      `If the sites were re-created outside the demo or the database holds another topology, ` +
      `start over with: scripts/demo --reset`,
  );
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : 'unknown error';
  console.error(
    err instanceof DemoError ? `[demo] ${message}` : `[demo] seeding failed: ${message}`,
  );
  process.exit(1);
});
