import { ManagementClient } from '../../src/broker/management-client';
import {
  faultModes,
  startFakeCluster,
  type FakeCluster,
  type FaultMode,
} from '../../src/broker/testing/fake-cluster';
import { closedPort } from '../../src/broker/testing/fake-management-server';
import { readClusterFacts } from '../../src/probes/broker-facts';
import { bearer, bootstrapToken, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';

/**
 * Issue #8: a management API answering garbage, 5xx, cut or endless bodies, or nothing at all.
 * The app runs in-process against a fake two-node cluster (src/broker/testing/fake-cluster.ts)
 * that records every request. No real broker is involved: this is about crossdock's own
 * handling of broken answers (real-broker behaviour is covered by the other e2e specs).
 */
const timeoutMs = 400;
const nodes = 2;
/** One request may try every node for a full timeout; the rest is the app's own work on a loaded machine. */
const limitMs = 2 * nodes * timeoutMs + 2000;

const expectedKind: Record<FaultMode, string> = {
  'http-500': 'server',
  'http-503-html': 'server',
  'invalid-json': 'protocol/invalid-json',
  truncated: 'protocol/truncated',
  'object-not-list': 'protocol/wrong-shape',
  'strings-for-numbers': 'protocol/wrong-shape',
  'missing-names': 'protocol/wrong-shape',
  'never-ends': 'timeout',
  late: 'timeout',
  reset: 'unreachable',
  huge: 'protocol/too-large',
};

describe('faults: a broken management API (fake cluster)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let fake: FakeCluster;
  let upstream: FakeCluster;
  let clusterId: string;
  let linkId: string;
  const slowest: Record<string, number> = {};
  const admin = () => bearer(bootstrapToken());

  const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn();
    const ms = performance.now() - t0;
    slowest[label] = Math.max(slowest[label] ?? 0, Math.round(ms));
    expect(ms).toBeLessThan(limitMs);
    return out;
  };

  const register = async (c: FakeCluster) => {
    const site = await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('fake'), region: 'lab' })
      .expect(201);
    const amqp = await closedPort();
    const res = await t.http
      .post('/clusters')
      .set(admin())
      .send({
        siteId: site.body.id,
        name: 'main',
        brokerClusterName: c.clusterName,
        linkEndpoints: [{ host: '127.0.0.1', port: amqp }],
        vhosts: ['/'],
        credentials: { username: 'admin', password: 'Fake-Pa55word-123' },
        nodes: c.nodes.map((n) => ({
          name: n.name,
          host: '127.0.0.1',
          amqpPort: amqp,
          managementPort: n.port,
          type: 'disc',
        })),
      })
      .expect(201);
    return res.body.id as string;
  };

  const setFault = (mode: FaultMode | undefined, paths?: (p: string) => boolean) => {
    for (const n of fake.nodes) fake.faults.set(n.name, mode ? { mode, paths } : undefined);
  };

  beforeAll(async () => {
    fake = await startFakeCluster(['rabbit@fake-a1', 'rabbit@fake-a2'], uniqueName('fake-a'));
    fake.lateMs = timeoutMs * 5;
    upstream = await startFakeCluster(['rabbit@fake-b1'], uniqueName('fake-b'));
    db = await createMigratedDatabase('crossdock_faults_mgmt');
    t = await createTestApp({
      DATABASE_URL: db.url,
      BROKER_HTTP_TIMEOUT_MS: String(timeoutMs),
    });
    clusterId = await register(fake);
    const upstreamId = await register(upstream);
    await t.http
      .post('/policies')
      .set(admin())
      .send({
        name: uniqueName('cap'),
        scope: 'cluster',
        clusterId,
        vhost: '/',
        pattern: '^orders$',
        applyTo: 'queues',
        definition: { 'max-length': 100 },
      })
      .expect(201);
    const link = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: uniqueName('fed'),
        kind: 'exchange',
        downstream: { clusterId, vhost: '/' },
        upstream: { clusterId: upstreamId, vhost: '/' },
        targets: ['events'],
      })
      .expect(201);
    linkId = link.body.id;
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    await fake?.close();
    await upstream?.close();
    // Figures for docs/reliability.md (the slowest answer per route over every mode).
    process.stdout.write(`faults-management-api slowest (ms): ${JSON.stringify(slowest)}\n`);
  });

  it('control: with a healthy fake the same pass observes and writes', async () => {
    setFault(undefined);
    fake.reset();
    const run = (await t.http.post('/reconcile').set(admin()).send({ clusterId }).expect(200)).body
      .runs[0];
    expect(run.summary.observeRequests).toBe(8);
    expect(fake.writes().length).toBeGreaterThan(0);
    expect(fake.writes().some((w) => w.url.startsWith('/api/policies/'))).toBe(true);
  });

  it.each(faultModes)(
    '%s on every GET of both nodes: typed, bounded, nothing written',
    async (mode) => {
      const kind = expectedKind[mode];
      setFault(mode);
      fake.reset();

      const observation = await timed('POST /clusters/:id/observation', () =>
        t.http.post(`/clusters/${clusterId}/observation`).set(admin()),
      );
      expect(observation.status).toBe(200);
      const obs = observation.body;
      expect(obs.perNode).toHaveLength(nodes);
      for (const n of obs.perNode) expect(n.error?.kind).toBeDefined();
      if (obs.reachable) expect(obs.unknown.length).toBeGreaterThan(0);
      else expect(obs.rabbitmqVersion).toBeNull();

      for (const dryRun of [false, true]) {
        const res = await timed(`POST /reconcile${dryRun ? ' (dry run)' : ''}`, () =>
          t.http.post('/reconcile').set(admin()).send({ clusterId, dryRun }),
        );
        expect(res.status).toBe(200);
        const run = res.body.runs[0];
        expect(run.status).toBe('failed');
        expect(run.summary.observeError.kind).toBe(kind);
        expect(run.error).toContain(`cluster not observable, nothing written (${kind})`);
        const stored = await t.http.get(`/reconcile/runs/${run.id}`).set(admin()).expect(200);
        expect(stored.body).toMatchObject({ status: 'failed', error: run.error });
      }
      const plan = await timed('GET /clusters/:id/plan', () =>
        t.http.get(`/clusters/${clusterId}/plan`).set(admin()),
      );
      expect(plan.status).toBe(200);
      expect(plan.body).toMatchObject({ status: 'failed', operations: [] });
      expect(plan.body.summary.observeError.kind).toBe(kind);

      const status = await timed('GET /links/federation/:id/status', () =>
        t.http.get(`/links/federation/${linkId}/status`).set(admin()),
      );
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ verdict: 'unknown', unavailableKind: kind });

      const client = new ManagementClient({
        nodes: fake.nodes.map((n) => ({ name: n.name, host: '127.0.0.1', managementPort: n.port })),
        scheme: 'http',
        username: 'admin',
        password: 'Fake-Pa55word-123',
        timeoutMs,
      });
      const facts = await timed('probe broker facts', () =>
        readClusterFacts(clusterId, client, {
          federationLinks: true,
          shovels: true,
          queues: true,
          exchanges: true,
        }),
      );
      expect(facts.error).toBeDefined();
      expect(facts.federationLinks).toEqual([]);

      // Alive, and the next request is served.
      await t.http.get('/health/live').expect(200);
      await t.http.get(`/clusters/${clusterId}`).set(admin()).expect(200);
      expect(fake.writes()).toEqual([]);
    },
  );

  it.each(faultModes)(
    '%s on one listing only (a partial observation): the pass fails and writes nothing',
    async (mode) => {
      setFault(mode, (p) => p === '/api/policies');
      fake.reset();
      const res = await timed('POST /reconcile (partial)', () =>
        t.http.post('/reconcile').set(admin()).send({ clusterId }),
      );
      const run = res.body.runs[0];
      expect(run.status).toBe('failed');
      expect(run.summary.observeError).toMatchObject({
        kind: expectedKind[mode],
        path: '/api/policies',
      });
      // The other listings were read: the failure is the one malformed listing.
      expect(fake.requests().some((r) => r.url.startsWith('/api/exchanges'))).toBe(true);
      expect(fake.writes()).toEqual([]);
    },
  );

  it('fails over when one node breaks and the other answers', async () => {
    fake.faults.set(fake.nodes[0].name, { mode: 'reset' });
    fake.faults.set(fake.nodes[1].name, undefined);
    fake.reset();
    const observation = await timed('POST /clusters/:id/observation', () =>
      t.http.post(`/clusters/${clusterId}/observation`).set(admin()),
    );
    expect(observation.body.reachable).toBe(true);
    expect(observation.body.rabbitmqVersion).toBe('3.10.8');
    expect(observation.body.perNode[0].error.kind).toBe('unreachable');
    expect(observation.body.perNode[1].managementReachable).toBe(true);
    const res = await timed('POST /reconcile', () =>
      t.http.post('/reconcile').set(admin()).send({ clusterId, dryRun: true }),
    );
    expect(res.body.runs[0].status).toBe('planned');
    fake.faults.set(fake.nodes[0].name, { mode: 'late' });
    const status = await timed('GET /links/federation/:id/status', () =>
      t.http.get(`/links/federation/${linkId}/status`).set(admin()),
    );
    expect(status.body.unavailable).toBeUndefined();
    setFault(undefined);
  });
});
