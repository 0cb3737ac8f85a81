import { connect, type ChannelModel } from 'amqplib';
import type TestAgent from 'supertest/lib/agent';
import { bearer, bootstrapToken } from './api';
import { registerLocalSite, type RegisteredSite } from './registry';
import { site, type SitesState, type TestManagement } from './sites';

const enc = encodeURIComponent;
const admin = () => bearer(bootstrapToken());

/** dc1 and dc2 of the local sites registered through the API, each managing `vhost`. */
export async function registerTwoSites(
  http: TestAgent,
  state: SitesState,
  vhost: string,
): Promise<{ dc1: RegisteredSite; dc2: RegisteredSite }> {
  const dc1 = await registerLocalSite(http, state, site(state, 'dc1'), [vhost]);
  const dc2 = await registerLocalSite(http, state, site(state, 'dc2'), [vhost]);
  return { dc1, dc2 };
}

/**
 * The user side of the usual exchange federation: a fanout `orders` exchange at both sites and
 * a queue `orders.dc2` bound to it at dc2.
 */
export async function plantOrders(
  m1: TestManagement,
  m2: TestManagement,
  vhost: string,
): Promise<void> {
  for (const m of [m1, m2])
    await m.request('PUT', `/api/exchanges/${enc(vhost)}/orders`, {
      type: 'fanout',
      durable: true,
    });
  await m2.request('PUT', `/api/queues/${enc(vhost)}/orders.dc2`, { durable: true });
  await m2.request('POST', `/api/bindings/${enc(vhost)}/e/orders/q/orders.dc2`, {
    routing_key: '',
  });
}

/** Exchange federation of `orders` from dc1 (upstream) to dc2; returns the link id. */
export async function createOrdersFederation(
  http: TestAgent,
  sites: { dc1: RegisteredSite; dc2: RegisteredSite },
  vhost: string,
  settings: Record<string, unknown> = {},
): Promise<string> {
  const res = await http
    .post('/links/federation')
    .set(admin())
    .send({
      name: 'orders',
      kind: 'exchange',
      downstream: { clusterId: sites.dc2.clusterId, vhost },
      upstream: { clusterId: sites.dc1.clusterId, vhost },
      targets: ['orders'],
      settings: { reconnectDelaySeconds: 1, ...settings },
    });
  if (res.status !== 201) throw new Error(`federation link: ${res.status} ${res.text}`);
  return res.body.id as string;
}

/**
 * Forces a reconcile pass of each cluster in turn and fails unless each one succeeded; a pass
 * answered `busy` (a background pass holds the cluster) is asked again, for up to 60 s.
 */
export async function reconcileClusters(http: TestAgent, clusters: RegisteredSite[]) {
  for (const c of clusters) {
    const deadline = Date.now() + 60000;
    for (;;) {
      const res = await http.post('/reconcile').set(admin()).send({ clusterId: c.clusterId });
      const status = res.body?.runs?.[0]?.status;
      if (res.status === 200 && status === 'succeeded') break;
      if (res.status !== 200 || status !== 'busy' || Date.now() > deadline)
        throw new Error(`reconcile ${c.local.name}: ${res.status} ${res.text}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** An AMQP connection to the first node of a local site, as the admin user. */
export async function openAmqp(
  state: SitesState,
  name: string,
  vhost: string,
): Promise<ChannelModel> {
  const n = site(state, name).nodes[0];
  const c = await connect({
    hostname: n.host,
    port: n.amqpPort,
    username: state.admin.username,
    password: state.admin.password,
    vhost,
  });
  c.on('error', () => undefined);
  return c;
}
