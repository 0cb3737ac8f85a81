import { ManagementClient } from '../broker/management-client';
import {
  closedPort,
  sendJson,
  startFakeNode,
  type FakeHandler,
  type FakeNode,
} from '../broker/testing/fake-management-server';
import { requiredPlugins } from '../broker-topology/broker-facts';
import type { DeclaredCluster } from './observation.types';
import { observeCluster } from './observe-cluster';

const password = 'obs-Secret-9';

interface FakeCluster {
  clusterName: string;
  nodes: Record<string, unknown>[];
  alarms: { node: string; resource: string }[];
  overrides: Record<string, FakeHandler>;
}

function healthyCluster(): FakeCluster {
  const member = (name: string, type: string) => ({
    name,
    type,
    running: true,
    partitions: [],
    mem_alarm: false,
    disk_free_alarm: false,
    enabled_plugins: [...requiredPlugins],
  });
  return {
    clusterName: 'dc1',
    nodes: [member('a@h', 'disc'), member('b@h', 'ram')],
    alarms: [],
    overrides: {},
  };
}

/** Routes of one fake node of `cluster`, answering like 3.10 does. */
function nodeHandler(self: string, cluster: FakeCluster): FakeHandler {
  return (req, res, body) => {
    const url = req.url ?? '';
    const route = url.split('?')[0];
    const override = cluster.overrides[route];
    if (override) return override(req, res, body);
    if (url === '/api/overview?disable_stats=true&columns=node') {
      return sendJson(res, 200, { node: self });
    }
    switch (route) {
      case '/api/overview':
        return sendJson(res, 200, {
          node: self,
          rabbitmq_version: '3.10.8',
          erlang_version: '25.2.3',
          cluster_name: cluster.clusterName,
        });
      case '/api/nodes':
        return sendJson(res, 200, cluster.nodes);
      case '/api/cluster-name':
        return sendJson(res, 200, { name: cluster.clusterName });
      case '/api/health/checks/alarms':
        return cluster.alarms.length
          ? sendJson(res, 503, { status: 'failed', reason: 'alarms', alarms: cluster.alarms })
          : sendJson(res, 200, { status: 'ok' });
      default:
        return sendJson(res, 404, { error: 'Object Not Found', reason: 'Not Found' });
    }
  };
}

const garbage: FakeHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('<html>proxy error amqp://u:hunter2@x</html>');
};

describe('observeCluster', () => {
  const fakes: FakeNode[] = [];

  async function start(
    cluster: FakeCluster,
  ): Promise<{ declared: DeclaredCluster; client: ManagementClient }> {
    const a = await startFakeNode('a@h', nodeHandler('a@h', cluster));
    const b = await startFakeNode('b@h', nodeHandler('b@h', cluster));
    fakes.push(a, b);
    return setup([
      { name: 'a@h', port: a.port, type: 'disc' },
      { name: 'b@h', port: b.port, type: 'ram' },
    ]);
  }

  function setup(
    nodes: { name: string; port: number; type: 'disc' | 'ram' }[],
    timeoutMs = 2000,
  ): { declared: DeclaredCluster; client: ManagementClient } {
    const declared: DeclaredCluster = {
      brokerClusterName: 'dc1',
      nodes: nodes.map((n) => ({
        name: n.name,
        host: '127.0.0.1',
        managementPort: n.port,
        type: n.type,
      })),
    };
    const client = new ManagementClient({
      nodes: declared.nodes,
      scheme: 'http',
      username: 'admin',
      password,
      timeoutMs,
    });
    return { declared, client };
  }

  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.close()));
  });

  it('reports a healthy cluster with no differences and a constant number of GETs', async () => {
    const { declared, client } = await start(healthyCluster());
    const obs = await observeCluster(client, declared);
    expect(obs).toMatchObject({
      reachable: true,
      rabbitmqVersion: '3.10.8',
      erlangVersion: '25.2.3',
      clusterName: 'dc1',
      pluginsMissing: [],
      alarms: [],
      unknown: [],
      differences: [],
    });
    expect(obs.perNode).toEqual([
      { name: 'a@h', managementReachable: true, answeredAs: 'a@h', latencyMs: expect.any(Number) },
      { name: 'b@h', managementReachable: true, answeredAs: 'b@h', latencyMs: expect.any(Number) },
    ]);
    expect(obs.nodes?.map((n) => [n.name, n.running, n.type])).toEqual([
      ['a@h', true, 'disc'],
      ['b@h', true, 'ram'],
    ]);
    expect(new Date(obs.observedAt).toISOString()).toBe(obs.observedAt);
    const total = fakes.reduce((sum, f) => sum + f.requests.length, 0);
    expect(total).toBe(declared.nodes.length + 4);
  });

  it('marks a garbage /api/nodes as unknown and still reports the rest', async () => {
    const cluster = healthyCluster();
    cluster.overrides['/api/nodes'] = garbage;
    const { declared, client } = await start(cluster);
    const obs = await observeCluster(client, declared);
    expect(obs.reachable).toBe(true);
    expect(obs.nodes).toBeNull();
    expect(obs.clusterName).toBe('dc1');
    expect(obs.rabbitmqVersion).toBe('3.10.8');
    expect(obs.unknown).toEqual([
      { endpoint: '/api/nodes', reason: expect.stringMatching(/^protocol: /) },
    ]);
    expect(obs.differences).toEqual([
      expect.objectContaining({
        kind: 'observation-incomplete',
        detail: expect.stringContaining('/api/nodes'),
      }),
    ]);
    expect(JSON.stringify(obs)).not.toContain('hunter2');
  });

  it('marks a /api/nodes of the wrong shape as unknown', async () => {
    const cluster = healthyCluster();
    cluster.nodes = [{ name: 'a@h', running: 'maybe' }];
    const { declared, client } = await start(cluster);
    const obs = await observeCluster(client, declared);
    expect(obs.nodes).toBeNull();
    expect(obs.unknown).toEqual([
      { endpoint: '/api/nodes', reason: 'nodes[0] has an invalid running' },
    ]);
  });

  it('falls back to the overview for the cluster name when /api/cluster-name is unusable', async () => {
    const cluster = healthyCluster();
    cluster.clusterName = 'other';
    cluster.overrides['/api/cluster-name'] = (_req, res) => sendJson(res, 200, ['x']);
    const { declared, client } = await start(cluster);
    const obs = await observeCluster(client, declared);
    expect(obs.clusterName).toBe('other');
    expect(obs.differences.map((d) => d.kind)).toEqual([
      'observation-incomplete',
      'cluster-name-mismatch',
    ]);
  });

  it('reports a stopped member as not running while the other answers', async () => {
    const cluster = healthyCluster();
    cluster.nodes[1] = { name: 'b@h', type: 'ram', running: false, cluster_links: [] };
    const a = await startFakeNode('a@h', nodeHandler('a@h', cluster));
    fakes.push(a);
    const { declared, client } = setup([
      { name: 'a@h', port: a.port, type: 'disc' },
      { name: 'b@h', port: await closedPort(), type: 'ram' },
    ]);
    const obs = await observeCluster(client, declared);
    expect(obs.reachable).toBe(true);
    expect(obs.perNode.map((n) => [n.name, n.managementReachable, n.error?.kind])).toEqual([
      ['a@h', true, undefined],
      ['b@h', false, 'unreachable'],
    ]);
    expect(obs.differences).toEqual([
      expect.objectContaining({ kind: 'node-not-running', node: 'b@h' }),
    ]);
  });

  it('merges real-time alarms from the 503 health check into the nodes', async () => {
    const cluster = healthyCluster();
    cluster.alarms = [{ node: 'b@h', resource: 'memory' }];
    const { declared, client } = await start(cluster);
    const obs = await observeCluster(client, declared);
    expect(obs.alarms).toEqual([{ node: 'b@h', resource: 'memory' }]);
    expect(obs.nodes?.find((n) => n.name === 'b@h')?.memAlarm).toBe(true);
    expect(obs.differences).toEqual([
      expect.objectContaining({ kind: 'memory-alarm', node: 'b@h' }),
    ]);
  });

  it('returns reachable false within about one timeout when no node answers', async () => {
    const hang: FakeHandler = () => undefined;
    const a = await startFakeNode('a@h', hang);
    const b = await startFakeNode('b@h', hang);
    fakes.push(a, b);
    const { declared, client } = setup(
      [
        { name: 'a@h', port: a.port, type: 'disc' },
        { name: 'b@h', port: b.port, type: 'ram' },
        { name: 'c@h', port: await closedPort(), type: 'disc' },
      ],
      400,
    );
    const started = Date.now();
    const obs = await observeCluster(client, declared);
    expect(Date.now() - started).toBeLessThan(800);
    expect(obs).toMatchObject({
      reachable: false,
      nodes: null,
      clusterName: null,
      rabbitmqVersion: null,
    });
    expect(obs.perNode.map((n) => [n.name, n.managementReachable, n.error?.kind])).toEqual([
      ['a@h', false, 'timeout'],
      ['b@h', false, 'timeout'],
      ['c@h', false, 'unreachable'],
    ]);
    expect(obs.differences).toEqual([expect.objectContaining({ kind: 'cluster-unreachable' })]);
    // Only the probes: no cluster-level GETs were sent to dead nodes.
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
  });

  it('reports refused credentials as answered-but-unknown, without leaking the password', async () => {
    const cluster = healthyCluster();
    const refuse: FakeHandler = (_req, res) =>
      sendJson(res, 401, { error: 'not_authorized', reason: 'Login failed' });
    cluster.overrides = Object.fromEntries(
      ['/api/overview', '/api/nodes', '/api/cluster-name', '/api/health/checks/alarms'].map((p) => [
        p,
        refuse,
      ]),
    );
    const { declared, client } = await start(cluster);
    const obs = await observeCluster(client, declared);
    expect(obs.reachable).toBe(true);
    expect(obs.perNode.every((n) => n.managementReachable && n.error?.kind === 'auth')).toBe(true);
    expect(obs.unknown).toHaveLength(4);
    expect(obs.differences.every((d) => d.kind === 'observation-incomplete')).toBe(true);
    expect(JSON.stringify(obs)).not.toContain(password);
  });
});
