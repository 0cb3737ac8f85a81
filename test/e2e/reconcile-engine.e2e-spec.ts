import { ManagementClient } from '../../src/broker/management-client';
import type { HttpMethod, RequestOptions } from '../../src/broker/management.types';
import { applyPlan, type ApplyHooks } from '../../src/reconciliation/apply';
import {
  bindingName,
  objectId,
  parseBindingName,
  type BrokerClient,
} from '../../src/broker-topology/broker-paths';
import type {
  DesiredObject,
  DesiredState,
  ObservedState,
  Plan,
} from '../../src/reconciliation/broker-state';
import {
  diffStates,
  redactPlan,
  type CreateOp,
  type OwnershipEntry,
} from '../../src/reconciliation/diff';
import { observeBrokerState } from '../../src/reconciliation/observe';
import { eventually } from '../helpers/eventually';
import { loadSites, site, TestManagement, type LocalSite, type SitesState } from '../helpers/sites';

jest.setTimeout(180000);

/** Counts what the engine sends, so "a no-op pass writes nothing" is checked on the wire. */
class CountingClient implements BrokerClient {
  requests = 0;
  writes: string[] = [];
  constructor(private readonly inner: ManagementClient) {}
  send<T = unknown>(method: HttpMethod, path: string, body?: unknown, opts?: RequestOptions) {
    this.requests++;
    if (method !== 'GET') this.writes.push(`${method} ${path}`);
    return this.inner.send<T>(method, path, body, opts);
  }
}

/**
 * The reconcile engine (observe -> diff -> apply) against the real local sites (RabbitMQ 3.10):
 * dc1 is the downstream cluster being reconciled, dc2 the upstream the link and shovel reach
 * through its link address. Each test works in vhosts of its own and deletes them afterwards.
 */
describe('reconcile engine (real RabbitMQ 3.10)', () => {
  let state: SitesState;
  let dc1: LocalSite;
  let dc2: LocalSite;
  let mgmt1: TestManagement;
  let mgmt2: TestManagement;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(() => {
    state = loadSites();
    dc1 = site(state, 'dc1');
    dc2 = site(state, 'dc2');
    mgmt1 = TestManagement.forSite(state, 'dc1');
    mgmt2 = TestManagement.forSite(state, 'dc2');
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function client(s: LocalSite): CountingClient {
    return new CountingClient(
      new ManagementClient({
        nodes: s.nodes.map((n) => ({
          name: n.name,
          host: n.host,
          managementPort: n.managementPort,
        })),
        scheme: 'http',
        username: state.admin.username,
        password: state.admin.password,
        timeoutMs: 5000,
      }),
    );
  }

  async function vhostOn(m: TestManagement, prefix: string): Promise<string> {
    const v = await m.createVhost(prefix);
    cleanups.push(() => m.deleteVhost(v));
    return v;
  }

  /** amqp URI of dc2 as another site reaches it, with the heartbeat and timeout trap 3.7 asks for. */
  function dc2Uri(vhost: string, via: 'link' | 'node' = 'link'): string {
    const { host, port } =
      via === 'link' ? dc2.link : { host: dc2.nodes[0].host, port: dc2.nodes[0].amqpPort };
    const auth = `${encodeURIComponent(state.admin.username)}:${encodeURIComponent(state.admin.password)}`;
    return `amqp://${auth}@${host}:${port}/${encodeURIComponent(vhost)}?heartbeat=10&connection_timeout=5000`;
  }

  const upstreamName = 'crossdock.up.dc2';
  const policyName = 'crossdock.fed.orders';
  const shovelName = 'crossdock.sh.overflow';
  const extraBinding = bindingName({
    source: 'orders',
    destinationType: 'q',
    destination: 'orders.local',
    routingKey: 'a/b%c #',
  });

  function desiredFor(v1: string, v2: string): DesiredState {
    const ensure = (o: Omit<DesiredObject, 'vhost' | 'owner'>): DesiredObject => ({
      ...o,
      vhost: v1,
      owner: 'link:e2e',
      ensureOnly: true,
    });
    return {
      clusterId: 'dc1',
      vhosts: [v1],
      warnings: [],
      objects: [
        ensure({ kind: 'exchange', name: 'orders', value: { type: 'topic' } }),
        ensure({ kind: 'queue', name: 'orders.local', value: {} }),
        ensure({ kind: 'queue', name: 'overflow', value: {} }),
        ensure({
          kind: 'binding',
          name: bindingName({
            source: 'orders',
            destinationType: 'q',
            destination: 'orders.local',
            routingKey: '#',
          }),
          value: {},
        }),
        {
          kind: 'federation-upstream',
          vhost: v1,
          name: upstreamName,
          owner: 'link:e2e',
          value: {
            uri: [dc2Uri(v2, 'link'), dc2Uri(v2, 'node')],
            'prefetch-count': 1000,
            'max-hops': 1,
            'reconnect-delay': 1,
            'resource-cleanup-mode': 'never',
          },
        },
        {
          kind: 'policy',
          vhost: v1,
          name: policyName,
          owner: 'link:e2e',
          value: {
            pattern: '^orders$',
            definition: { 'federation-upstream': upstreamName },
            priority: 5,
            'apply-to': 'exchanges',
          },
        },
        {
          kind: 'shovel',
          vhost: v1,
          name: shovelName,
          owner: 'shovel:e2e',
          value: {
            'src-uri': `amqp:///${encodeURIComponent(v1)}`,
            'src-queue': 'overflow',
            'dest-uri': dc2Uri(v2, 'link'),
            'dest-queue': 'overflow.remote',
            'reconnect-delay': 1,
          },
        },
        // Owned outright (not ensure-only), with arguments and a routing key that needs quoting.
        {
          kind: 'binding',
          vhost: v1,
          name: extraBinding,
          owner: 'link:e2e',
          value: { arguments: { 'x-note': 'e2e' } },
        },
      ],
    };
  }

  /** The caller's side of the ledger: a row before each create/update, removed after a delete. */
  function ledgerHooks(ledger: OwnershipEntry[]): ApplyHooks {
    return {
      beforeWrite: (op) => {
        if (op.op === 'delete' || ledger.some((e) => objectId(e) === objectId(op.key))) return;
        ledger.push({
          ...op.key,
          owner: op.owner,
          ensureOnly: (op as CreateOp).ensureOnly === true,
        });
      },
      afterWrite: (op, outcome) => {
        if (op.op !== 'delete' || !outcome.ok) return;
        const i = ledger.findIndex((e) => objectId(e) === objectId(op.key));
        if (i >= 0) ledger.splice(i, 1);
      },
    };
  }

  async function plan(
    c: BrokerClient,
    desired: DesiredState,
    ledger: OwnershipEntry[],
  ): Promise<{ plan: Plan; observed: ObservedState }> {
    const observed = await observeBrokerState(c, desired.vhosts);
    return { plan: diffStates(desired, observed, ledger), observed };
  }

  async function converge(c: CountingClient, desired: DesiredState, ledger: OwnershipEntry[]) {
    const first = await plan(c, desired, ledger);
    const result = await applyPlan(c, first.plan, ledgerHooks(ledger));
    expect(result.counts.failed).toBe(0);
    expect(result.stopped).toBeUndefined();
    return { plan: first.plan, result };
  }

  /** dc1 vhost reconciled to the full desired state; dc2 vhost holding the upstream exchange. */
  async function setUp() {
    const v1 = await vhostOn(mgmt1, 'rk');
    const v2 = await vhostOn(mgmt2, 'rk-up');
    await mgmt2.request('PUT', `/api/exchanges/${encodeURIComponent(v2)}/orders`, {
      type: 'topic',
      durable: true,
    });
    const c = client(dc1);
    const ledger: OwnershipEntry[] = [];
    const desired = desiredFor(v1, v2);
    const first = await converge(c, desired, ledger);
    return { v1, v2, c, ledger, desired, first };
  }

  it('creates in dependency order, proves the values on the broker, then a no-op pass writes nothing', async () => {
    const { v1, v2, c, ledger, desired, first } = await setUp();

    expect(
      first.plan.ops.map(
        (op) =>
          `${op.op} ${op.key.kind} ${op.key.kind === 'binding' ? Object.values(parseBindingName(op.key.name)).join('|') : op.key.name}`,
      ),
    ).toEqual([
      'create exchange orders',
      'create queue orders.local',
      'create queue overflow',
      'create binding orders|q|orders.local|#',
      'create binding orders|q|orders.local|a/b%c #',
      `create federation-upstream ${upstreamName}`,
      `create policy ${policyName}`,
      `create shovel ${shovelName}`,
    ]);
    expect(first.result.counts).toMatchObject({ created: 8, failed: 0, skipped: 0 });
    for (const o of first.result.outcomes) expect(dc1.nodes.map((n) => n.name)).toContain(o.node);
    // The plan carries the real URIs for the applier; its shown form does not.
    expect(JSON.stringify(first.plan)).toContain(state.admin.password);
    expect(JSON.stringify(redactPlan(first.plan))).not.toContain(state.admin.password);

    // Explicit defaults reached the broker (the API's own default would be a non-durable queue).
    const q = await mgmt1.request<{ durable: boolean }>(
      'GET',
      `/api/queues/${encodeURIComponent(v1)}/orders.local`,
    );
    expect(q.durable).toBe(true);
    const up = await mgmt1.request<{ value: { uri: string[] } }>(
      'GET',
      `/api/parameters/federation-upstream/${encodeURIComponent(v1)}/${upstreamName}`,
    );
    expect(up.value.uri).toEqual([dc2Uri(v2, 'link'), dc2Uri(v2, 'node')]);

    // The written values are valid for real: the link and the shovel come up.
    await eventually(
      async () => {
        const links = await mgmt1.request<{ upstream: string; status: string }[]>(
          'GET',
          `/api/federation-links/${encodeURIComponent(v1)}`,
        );
        return links.some((l) => l.upstream === upstreamName && l.status === 'running');
      },
      { timeoutMs: 30000, intervalMs: 250, description: 'federation link running' },
    );
    await eventually(
      async () => {
        const shovels = await mgmt1.request<{ name: string; state: string }[]>(
          'GET',
          `/api/shovels/${encodeURIComponent(v1)}`,
        );
        return shovels.some((s) => s.name === shovelName && s.state === 'running');
      },
      { timeoutMs: 30000, intervalMs: 250, description: 'shovel running' },
    );

    const writesBefore = c.writes.length;
    const second = await plan(c, desired, ledger);
    expect(second.observed.requests).toBe(7);
    expect(second.plan).toEqual({ ops: [], findings: [] });
    const noop = await applyPlan(c, second.plan, ledgerHooks(ledger));
    expect(noop.requests).toBe(0);
    expect(c.writes).toHaveLength(writesBefore);
  });

  it('reports the link upstream queue on dc2 as an orphan unless an expected link explains it', async () => {
    const { v1, v2 } = await setUp();
    const queueName = `federation: orders -> ${dc1.clusterName}:${v1}:orders`;
    const c2 = client(dc2);
    const desired2: DesiredState = { clusterId: 'dc2', vhosts: [v2], objects: [], warnings: [] };
    const observed2 = await eventually(
      async (): Promise<ObservedState> => {
        const o = await observeBrokerState(c2, [v2]);
        if (!o.objects.some((x) => x.kind === 'queue' && x.name === queueName)) {
          throw new Error(`${queueName} not there yet`);
        }
        return o;
      },
      { timeoutMs: 30000, intervalMs: 250, description: 'federation upstream queue on dc2' },
    );
    const explained = diffStates(desired2, observed2, [], {
      expectedFederationQueues: [
        {
          vhost: v2,
          exchange: 'orders',
          downstreamCluster: dc1.clusterName,
          downstreamVhost: v1,
          downstreamExchange: 'orders',
        },
      ],
    });
    expect(explained).toEqual({ ops: [], findings: [] });
    const orphaned = diffStates(desired2, observed2, [], { expectedFederationQueues: [] });
    expect(orphaned.ops).toEqual([]);
    expect(orphaned.findings).toEqual([
      expect.objectContaining({
        kind: 'orphan-federation-queue',
        key: { kind: 'queue', vhost: v2, name: queueName },
      }),
    ]);
  });

  it('heals a hand-deleted policy with exactly one create', async () => {
    const { v1, c, ledger, desired } = await setUp();
    await mgmt1.request('DELETE', `/api/policies/${encodeURIComponent(v1)}/${policyName}`);

    const drifted = await plan(c, desired, ledger);
    expect(drifted.plan.ops.map((op) => [op.op, op.key.kind, op.key.name])).toEqual([
      ['create', 'policy', policyName],
    ]);
    expect(drifted.plan.findings).toEqual([expect.objectContaining({ kind: 'drift' })]);
    const result = await applyPlan(c, drifted.plan, ledgerHooks(ledger));
    expect(result.counts).toMatchObject({ created: 1, failed: 0 });
    expect((await plan(c, desired, ledger)).plan).toEqual({ ops: [], findings: [] });
  });

  it('never touches unmanaged objects, reports the ones that matter, updates only its own', async () => {
    const { v1, c, ledger, desired } = await setUp();
    const v = encodeURIComponent(v1);
    const manualPolicy = {
      pattern: '^orders',
      definition: { 'alternate-exchange': 'ae' },
      priority: 10,
      'apply-to': 'exchanges',
    };
    const manualUpstream = { uri: 'amqp://', 'prefetch-count': 5 };
    const strayPolicy = {
      pattern: '^nothing$',
      definition: { 'max-length': 1 },
      priority: 0,
      'apply-to': 'queues',
    };
    await mgmt1.request('PUT', `/api/policies/${v}/ops.manual`, manualPolicy);
    await mgmt1.request('PUT', `/api/parameters/federation-upstream/${v}/manual-up`, {
      value: manualUpstream,
    });
    await mgmt1.request('PUT', `/api/policies/${v}/crossdock.stray`, strayPolicy);

    const changed = structuredClone(desired);
    const pol = changed.objects.find((o) => o.name === policyName);
    (pol?.value as { priority: number }).priority = 6;
    const next = await plan(c, changed, ledger);
    expect(next.plan.ops).toEqual([
      expect.objectContaining({
        op: 'update',
        key: { kind: 'policy', vhost: v1, name: policyName },
        changes: [{ path: 'priority', before: 5, after: 6 }],
      }),
    ]);
    expect(next.plan.findings.map((f) => [f.kind, f.key.name])).toEqual([
      ['shadowed', policyName],
      ['unmanaged-conflict', 'crossdock.stray'],
    ]);
    expect(next.plan.findings[0].detail).toContain('"ops.manual"');
    expect(next.plan.findings[0].detail).toContain('exchange "orders"');

    const result = await applyPlan(c, next.plan, ledgerHooks(ledger));
    expect(result.counts).toMatchObject({ updated: 1, failed: 0 });
    expect(
      c.writes.some((w) => /ops\.manual|manual-up|crossdock\.stray/.test(decodeURIComponent(w))),
    ).toBe(false);
    const got = await mgmt1.request<Record<string, unknown>>(
      'GET',
      `/api/policies/${v}/ops.manual`,
    );
    expect(got).toMatchObject(manualPolicy);
    const gotUp = await mgmt1.request<{ value: unknown }>(
      'GET',
      `/api/parameters/federation-upstream/${v}/manual-up`,
    );
    expect(gotUp.value).toEqual(manualUpstream);
    expect(await mgmt1.request('GET', `/api/policies/${v}/crossdock.stray`)).toMatchObject(
      strayPolicy,
    );
    const after = await plan(c, changed, ledger);
    expect(after.plan.ops).toEqual([]);
  });

  it('deletes exactly what left the desired state and is in the ledger; binding arguments update in place', async () => {
    const { v1, c, ledger, desired } = await setUp();
    const v = encodeURIComponent(v1);
    const bindingsNow = () =>
      mgmt1.request<{ routing_key: string; arguments: Record<string, unknown> }[]>(
        'GET',
        `/api/bindings/${v}/e/orders/q/orders.local`,
      );

    // A binding's arguments are part of its identity: the update adds the new one and removes the old.
    const reargued = structuredClone(desired);
    const b = reargued.objects.find((o) => o.name === extraBinding);
    if (b) b.value = { arguments: { 'x-note': 'changed' } };
    const update = await plan(c, reargued, ledger);
    expect(update.plan.ops.map((op) => op.op)).toEqual(['update']);
    expect((await applyPlan(c, update.plan, ledgerHooks(ledger))).counts).toMatchObject({
      updated: 1,
      failed: 0,
    });
    expect(
      (await bindingsNow()).filter((x) => x.routing_key === 'a/b%c #').map((x) => x.arguments),
    ).toEqual([{ 'x-note': 'changed' }]);

    const smaller = structuredClone(reargued);
    smaller.objects = smaller.objects.filter(
      (o) => o.name !== shovelName && o.name !== extraBinding,
    );
    const next = await plan(c, smaller, ledger);
    expect(next.plan.ops.map((op) => [op.op, op.key.kind, op.key.name])).toEqual([
      ['delete', 'shovel', shovelName],
      ['delete', 'binding', extraBinding],
    ]);
    const result = await applyPlan(c, next.plan, ledgerHooks(ledger));
    expect(result.counts).toMatchObject({ deleted: 2, failed: 0 });
    expect(result.outcomes.every((o) => !o.alreadyGone)).toBe(true);

    await expect(mgmt1.request('GET', `/api/parameters/shovel/${v}/${shovelName}`)).rejects.toThrow(
      /404/,
    );
    // The ensure-only '#' binding stays; the owned one (found through its properties_key) is gone.
    expect((await bindingsNow()).map((x) => x.routing_key)).toEqual(['#']);
    const observed = await observeBrokerState(c, [v1]);
    for (const name of [upstreamName, policyName, 'orders', 'orders.local', 'overflow']) {
      expect(observed.objects.some((o) => o.name === name)).toBe(true);
    }
    expect(ledger.some((e) => e.name === shovelName || e.name === extraBinding)).toBe(false);
    expect((await plan(c, smaller, ledger)).plan).toEqual({ ops: [], findings: [] });
  });

  it('observes with the same number of requests for 10 and 200 policies', async () => {
    const v = await vhostOn(mgmt1, 'rk-many');
    const c = client(dc1);
    const ledger: OwnershipEntry[] = [];
    const policies = (n: number): DesiredState => ({
      clusterId: 'dc1',
      vhosts: [v],
      warnings: [],
      objects: Array.from({ length: n }, (_, i) => ({
        kind: 'policy' as const,
        vhost: v,
        name: `crossdock.pol.${i}`,
        owner: `policy:${i}`,
        value: {
          pattern: `^q${i}$`,
          definition: { 'max-length': i + 1 },
          priority: 1,
          'apply-to': 'queues',
        },
      })),
    });

    await converge(c, policies(10), ledger);
    const before = c.requests;
    const small = await observeBrokerState(c, [v]);
    expect(c.requests - before).toBe(small.requests);
    expect(small.objects.filter((o) => o.kind === 'policy')).toHaveLength(10);

    const grown = await converge(c, policies(200), ledger);
    expect(grown.result.counts.created).toBe(190);
    const before2 = c.requests;
    const big = await observeBrokerState(c, [v]);
    expect(c.requests - before2).toBe(big.requests);
    expect(big.objects.filter((o) => o.kind === 'policy')).toHaveLength(200);
    expect(big.requests).toBe(small.requests);
    expect(big.requests).toBe(7);
    expect(diffStates(policies(200), big, ledger)).toEqual({ ops: [], findings: [] });
  });
});
