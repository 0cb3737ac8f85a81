import type { Role } from '../../../src/common/actor/actor';
import { roleAllows } from '../../../src/common/actor/actor';
import { bearer, bootstrapToken, clusterBody, tokensByRole, uniqueName } from '../../helpers/api';
import { createTestApp, type TestApp } from '../../helpers/app';
import {
  fillPath,
  listRoutes,
  nonNestExpressRoutes,
  type RouteInfo,
  type RouteNeed,
} from '../../helpers/routes';
import {
  createWorld,
  dataSourceOf,
  problemViolation,
  repairWorld,
  supertestSend,
  worldIds,
  type World,
} from './support';

/**
 * One row per route: the role it must need, and a request that succeeds for an allowed caller
 * (real fixture ids, a valid body). What a successful delete removes is recreated after each
 * call. The spec fails when the app has a route without a row, or a row without a route.
 */
interface Row {
  need: RouteNeed;
  body?: (w: World) => object;
  /**
   * Non-2xx answers that still prove an allowed caller reached the handler: a route that must
   * read the broker answers 502/503 problem+json (broker-unavailable) against the fixture clusters.
   */
  reached?: number[];
}

const matrix: Record<string, Row> = {
  'GET /health/live': { need: 'public' },
  'GET /health/ready': { need: 'public' },
  'GET /metrics': { need: 'public' },

  'GET /audit': { need: 'viewer' },
  'GET /audit/export': { need: 'viewer' },
  'GET /audit/verify': { need: 'viewer' },
  'GET /audit/head': { need: 'viewer' },
  'POST /audit/checkpoints': { need: 'admin' },
  'GET /audit/{seq}': { need: 'viewer' },

  'POST /tokens': { need: 'admin', body: () => ({ name: uniqueName('rbac-tk'), role: 'viewer' }) },
  'GET /tokens': { need: 'admin' },
  'GET /tokens/{id}': { need: 'admin' },
  'DELETE /tokens/{id}': { need: 'admin' },

  'POST /sites': { need: 'admin', body: () => ({ name: uniqueName('rbac'), region: 'eu' }) },
  'GET /sites': { need: 'viewer' },
  'GET /sites/{id}': { need: 'viewer' },
  'PATCH /sites/{id}': { need: 'admin', body: () => ({ description: 'rbac patch' }) },
  'DELETE /sites/{id}': { need: 'admin' },
  // A site's load balancer: the handlers answer 404 while the site has none.
  'PUT /sites/{id}/load-balancer': {
    need: 'admin',
    body: () => ({ virtualIp: '10.9.0.10', hosts: [{ name: 'lb1', address: '10.9.0.11' }] }),
  },
  'GET /sites/{id}/load-balancer': { need: 'viewer', reached: [404] },
  'DELETE /sites/{id}/load-balancer': { need: 'admin', reached: [404] },
  'GET /sites/{id}/load-balancer/haproxy.cfg': { need: 'viewer', reached: [404, 409] },
  'GET /sites/{id}/load-balancer/keepalived.conf': { need: 'viewer', reached: [404, 409] },

  'POST /clusters': { need: 'admin', body: (w) => clusterBody(w.clusterSite) },
  'GET /clusters': { need: 'viewer' },
  'GET /clusters/{id}': { need: 'viewer' },
  'PATCH /clusters/{id}': { need: 'admin', body: () => ({ partitionHandling: 'autoheal' }) },
  'PUT /clusters/{id}/credentials': {
    need: 'admin',
    body: () => ({ username: 'rbac-user', password: 'rbac-pass' }),
  },
  'DELETE /clusters/{id}': { need: 'admin' },
  'GET /clusters/{id}/link-user': { need: 'viewer' },
  // Starts a rotation (the fixture broker is unreachable: it stays verifying); admin calls once.
  'POST /clusters/{id}/link-user/rotate': { need: 'admin' },
  'GET /clusters/{id}/nodes': { need: 'viewer' },
  'GET /clusters/{id}/nodes/{nodeId}': { need: 'viewer' },
  'POST /clusters/{id}/nodes': {
    need: 'admin',
    body: () => ({
      name: `rabbit@${uniqueName('rbac')}`,
      host: '10.0.0.7',
      amqpPort: 5672,
      managementPort: 15672,
      // With the credentials again, so the fixture cluster stays usable for the routes below.
      credentials: clusterBody('').credentials,
    }),
  },
  'PATCH /clusters/{id}/nodes/{nodeId}': {
    need: 'admin',
    body: () => ({ host: '10.0.0.8', credentials: clusterBody('').credentials }),
  },
  'DELETE /clusters/{id}/nodes/{nodeId}': { need: 'admin' },
  // The fixture clusters' brokers are unreachable: observing stores "unreachable" and answers 200.
  'POST /clusters/{id}/observation': { need: 'operator' },
  'GET /clusters/{id}/observation': { need: 'viewer' },

  'POST /links/federation': {
    need: 'operator',
    body: (w) => ({
      name: uniqueName('rbac-fed'),
      kind: 'queue',
      downstream: { clusterId: w.anchorA, vhost: '/' },
      upstream: { clusterId: w.anchorB, vhost: '/' },
      targets: [uniqueName('rbac-q')],
    }),
  },
  'GET /links/federation': { need: 'viewer' },
  'GET /links/federation/{id}': { need: 'viewer' },
  'PATCH /links/federation/{id}': { need: 'operator', body: () => ({ deletionPolicy: 'retain' }) },
  'POST /links/federation/{id}/pause': { need: 'operator' },
  'POST /links/federation/{id}/resume': { need: 'operator' },
  // Restarts ask the broker, which is unreachable for the fixture clusters.
  'POST /links/federation/{id}/restart': { need: 'operator', reached: [409, 502, 503] },
  'DELETE /links/federation/{id}': { need: 'operator' },

  'POST /links/shovels': {
    need: 'operator',
    body: (w) => ({
      name: uniqueName('rbac-sh'),
      source: { clusterId: w.anchorB, vhost: '/', exchange: 'rbac-x', exchangeKey: 'k' },
      destination: { clusterId: w.anchorA, vhost: '/', queue: uniqueName('rbac-q') },
    }),
  },
  'GET /links/shovels': { need: 'viewer' },
  'GET /links/shovels/{id}': { need: 'viewer' },
  'PATCH /links/shovels/{id}': {
    need: 'operator',
    body: () => ({ settings: { prefetchCount: 50 } }),
  },
  'POST /links/shovels/{id}/pause': { need: 'operator' },
  'POST /links/shovels/{id}/resume': { need: 'operator' },
  'POST /links/shovels/{id}/restart': { need: 'operator', reached: [409, 502, 503] },
  // Reruns only a completed one-shot shovel: the fixture runs continuously.
  'POST /links/shovels/{id}/rerun': { need: 'operator', reached: [409] },
  'DELETE /links/shovels/{id}': { need: 'operator' },

  'POST /policies': {
    need: 'operator',
    body: (w) => ({
      name: uniqueName('rbac-pol'),
      scope: 'site',
      siteId: w.site2,
      vhost: '/',
      pattern: '^rbac\\.',
      applyTo: 'exchanges',
      definition: { 'alternate-exchange': 'rbac-ae' },
    }),
  },
  'GET /policies': { need: 'viewer' },
  // Reconciliation: the fixture brokers are unreachable, so runs record failures (still 200).
  'GET /links/federation/{id}/status': { need: 'viewer' },
  'GET /links/shovels/{id}/status': { need: 'viewer' },
  'POST /reconcile': { need: 'operator', body: (w) => ({ clusterId: w.cluster, dryRun: true }) },
  'GET /clusters/{id}/plan': { need: 'viewer' },
  // Definitions: export compiles the registry (no broker); import must observe the broker.
  'GET /clusters/{id}/definitions': { need: 'viewer' },
  'POST /clusters/{id}/import': {
    need: 'operator',
    body: () => ({ dryRun: true }),
    reached: [502, 503],
  },
  'GET /reconcile/runs': { need: 'viewer' },
  'GET /reconcile/runs/{runId}': { need: 'viewer' },
  'POST /clusters/{id}/suspend-reconcile': { need: 'operator' },
  'POST /clusters/{id}/resume-reconcile': { need: 'operator' },
  'POST /sites/{id}/suspend-reconcile': { need: 'operator' },
  'POST /sites/{id}/resume-reconcile': { need: 'operator' },
  'GET /policies/{id}': { need: 'viewer' },
  'PATCH /policies/{id}': { need: 'operator', body: () => ({ priority: 5 }) },
  'DELETE /policies/{id}': { need: 'operator' },

  'GET /links/federation/{id}/health': { need: 'viewer' },
  'GET /links/shovels/{id}/health': { need: 'viewer' },
  'PUT /links/federation/{id}/health/thresholds': {
    need: 'operator',
    body: () => ({ lagDegradedMs: 250 }),
  },
  'PUT /links/shovels/{id}/health/thresholds': {
    need: 'operator',
    body: () => ({ downAfterMs: 3000 }),
  },
  'GET /sites/{id}/health': { need: 'viewer' },
  'GET /probes/paths': { need: 'viewer' },
  'GET /probes/paths/{pathId}/samples': { need: 'viewer' },

  'POST /overflow-rules': {
    need: 'operator',
    body: (w) => ({
      name: uniqueName('rbac-ovf'),
      source: { clusterId: w.anchorA, vhost: '/', queue: uniqueName('rbac-busy') },
      remote: { clusterId: w.anchorB, vhost: '/', queue: 'rbac-spill' },
      highWatermark: 500,
      lowWatermark: 50,
    }),
  },
  'GET /overflow-rules': { need: 'viewer' },
  'GET /overflow-rules/{id}': { need: 'viewer' },
  'PATCH /overflow-rules/{id}': { need: 'operator', body: () => ({ minHoldMs: 1000 }) },
  'DELETE /overflow-rules/{id}': { need: 'operator' },

  'POST /exchanges': {
    need: 'operator',
    body: (w) => ({ clusterId: w.anchorA, vhost: '/', name: uniqueName('rbac-x'), type: 'fanout' }),
  },
  'GET /exchanges': { need: 'viewer' },
  'GET /exchanges/{id}': { need: 'viewer' },
  'PATCH /exchanges/{id}': { need: 'operator', body: () => ({ deletionPolicy: 'retain' }) },
  'DELETE /exchanges/{id}': { need: 'operator' },
  'POST /queues': {
    need: 'operator',
    body: (w) => ({ clusterId: w.anchorA, vhost: '/', name: uniqueName('rbac-q') }),
  },
  'GET /queues': { need: 'viewer' },
  'GET /queues/{id}': { need: 'viewer' },
  'PATCH /queues/{id}': { need: 'operator', body: () => ({ deletionPolicy: 'retain' }) },
  // The fixture queues keep the default deletion policy (retain): no confirmation needed.
  'DELETE /queues/{id}': { need: 'operator' },
  'POST /bindings': {
    need: 'operator',
    body: (w) => ({
      clusterId: w.anchorA,
      vhost: '/',
      source: 'rbac-x',
      destinationType: 'queue',
      destination: uniqueName('rbac-q'),
    }),
  },
  'GET /bindings': { need: 'viewer' },
  'GET /bindings/{id}': { need: 'viewer' },
  'DELETE /bindings/{id}': { need: 'operator' },
};

type Caller = 'no token' | 'unknown token' | Role;
const callers: Caller[] = ['no token', 'unknown token', 'viewer', 'operator', 'admin'];

function expectation(need: RouteNeed, caller: Caller): 401 | 403 | 'allowed' {
  if (need === 'public') return 'allowed';
  if (caller === 'no token' || caller === 'unknown token') return 401;
  return roleAllows(caller, need) ? 'allowed' : 403;
}

describe('RBAC matrix: every route x every kind of caller', () => {
  let t: TestApp;
  let tok: Record<Role, string>;
  let routes: RouteInfo[];
  let world: World;
  const admin = () => bootstrapToken();

  beforeAll(async () => {
    t = await createTestApp();
    tok = await tokensByRole(t.http, 'rbac');
    routes = listRoutes(t.app);
    world = await createWorld(supertestSend(t, admin()));
  });
  afterAll(() => t.close());

  it('has a row for every route of the app, and no row for a route that does not exist', () => {
    const found = routes.map((r) => r.key).sort();
    const rows = Object.keys(matrix).sort();
    const missing = found.filter((k) => !(k in matrix));
    const stale = rows.filter((k) => !found.includes(k));
    expect({ missing, stale }).toEqual({ missing: [], stale: [] });
    // The document and the handlers agree (listRoutes throws otherwise); /metrics is the one
    // route kept out of the document on purpose.
    expect(routes.filter((r) => !r.inOpenApi).map((r) => r.key)).toEqual(['GET /metrics']);
  });

  it('derives from the Nest metadata the role each row expects', () => {
    const derived = Object.fromEntries(routes.map((r) => [r.key, r.need]));
    const expected = Object.fromEntries(Object.entries(matrix).map(([k, r]) => [k, r.need]));
    expect(derived).toEqual(expected);
  });

  it('serves only the Swagger UI and document outside Nest, and they are public', async () => {
    const extra = nonNestExpressRoutes(t.app);
    expect(extra.length).toBeGreaterThan(0);
    for (const r of extra) {
      expect(`${r.method} ${r.path}`).toMatch(/^GET \/docs(\/|-yaml$|$)/);
    }
    const doc = await t.http.get('/docs/openapi.json');
    expect(doc.status).toBe(200);
  });

  describe.each(Object.entries(matrix))('%s', (key, row) => {
    const [method, template] = key.split(' ') as [string, string];

    it.each(callers)('as %s', async (caller) => {
      const path = fillPath(template, worldIds(world));
      const verb = method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete';
      let req = t.http[verb](path);
      if (caller === 'unknown token') req = req.set(bearer(`cdk_00000000_${'x'.repeat(43)}`));
      else if (caller !== 'no token') req = req.set(bearer(tok[caller]));
      const res = row.body ? await req.send(row.body(world)) : await req;
      world = await repairWorld(world, supertestSend(t, admin()), dataSourceOf(t));

      const want = expectation(row.need, caller);
      const what = `${key} as ${caller} -> ${res.status} ${res.text.slice(0, 300)}`;
      if (want === 'allowed') {
        expect({ what, denied: res.status === 401 || res.status === 403 }).toEqual({
          what,
          denied: false,
        });
        // Real ids and valid bodies: the call reaches the handler and succeeds.
        const reached =
          (res.status >= 200 && res.status < 300) ||
          (!!row.reached?.includes(res.status) &&
            problemViolation(res.status, res.headers['content-type'], res.text) === undefined);
        expect({ what, ok: reached }).toEqual({ what, ok: true });
      } else {
        expect({ what, status: res.status }).toEqual({ what, status: want });
        const violation = problemViolation(res.status, res.headers['content-type'], res.text);
        expect({ what, violation }).toEqual({ what, violation: undefined });
        expect(res.body.code).toBe(want === 401 ? 'unauthenticated' : 'forbidden');
      }
    });
  });
});
