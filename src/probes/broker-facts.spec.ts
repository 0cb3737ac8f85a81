import { ManagementClient } from '../broker/management-client';
import { startFakeCluster, type FakeCluster } from '../broker/testing/fake-cluster';
import { sendJson } from '../broker/testing/fake-management-server';
import { readAlarms, readClusterFacts } from './broker-facts';

const all = { federationLinks: true, shovels: true, queues: true, exchanges: true };

describe('readClusterFacts: broker answers of the wrong shape', () => {
  let fake: FakeCluster;
  let client: ManagementClient;
  beforeAll(async () => {
    fake = await startFakeCluster(['rabbit@f1']);
    client = new ManagementClient({
      nodes: [{ name: 'rabbit@f1', host: '127.0.0.1', managementPort: fake.nodes[0].port }],
      scheme: 'http',
      username: 'u',
      password: 'p',
      timeoutMs: 1000,
    });
  });
  afterAll(() => fake.close());

  const answer = (path: string, body: unknown, status = 200) => {
    const node = fake.nodes[0];
    const healthy = node.handle;
    node.handle = (req, res, b) =>
      (req.url ?? '').split('?')[0] === path ? sendJson(res, status, body) : healthy(req, res, b);
    return () => (node.handle = healthy);
  };

  it('reads alarms from the live alarm health check, naming node and resource', async () => {
    const restore = answer(
      '/api/health/checks/alarms',
      {
        status: 'failed',
        reason: 'There are alarms in effect in the cluster',
        alarms: [
          { node: 'rabbit@f1', resource: 'memory' },
          { node: 'rabbit@f2', resource: 'disk space' },
        ],
      },
      503,
    );
    try {
      expect(await readAlarms(client)).toEqual([
        { node: 'rabbit@f1', alarm: 'memory' },
        { node: 'rabbit@f2', alarm: 'disk' },
      ]);
      const facts = await readClusterFacts('c', client, all);
      expect(facts.error).toBeUndefined();
      expect(facts.alarms).toEqual([
        { node: 'rabbit@f1', alarm: 'memory' },
        { node: 'rabbit@f2', alarm: 'disk' },
      ]);
    } finally {
      restore();
    }
    expect(await readAlarms(client)).toEqual([]);
  });

  it('reads well-formed listings', async () => {
    const restore = answer('/api/federation-links', [
      { vhost: '/', upstream: 'up', exchange: 'x', status: 'running', node: 'n' },
    ]);
    try {
      const facts = await readClusterFacts('c', client, all);
      expect(facts.error).toBeUndefined();
      expect(facts.federationLinks).toEqual([
        { vhost: '/', upstream: 'up', object: 'x', status: 'running', error: undefined },
      ]);
    } finally {
      restore();
    }
  });

  it.each([
    ['/api/federation-links', { items: [] }, /federation links: not a list/],
    [
      '/api/federation-links',
      [{ vhost: '/', status: 'running', exchange: 'x' }],
      /lacks string "upstream"/,
    ],
    [
      '/api/federation-links',
      [{ vhost: '/', upstream: 'u', status: 'running' }],
      /lacks one of exchange, queue/,
    ],
    ['/api/queues', [{ vhost: '/', messages: '5' }], /queues: item 0 lacks string "name"/],
    ['/api/shovels', ['x'], /shovels: item 0 is not an object/],
    ['/api/health/checks/alarms', { alarms: [{ node: 7 }] }, /a list of alarms/],
  ])('fails the whole read on %s answering %j', async (path, body, why) => {
    const restore = answer(path, body);
    try {
      const facts = await readClusterFacts('c', client, all);
      expect(facts.error).toMatch(why);
      expect(facts.federationLinks).toEqual([]);
      expect(facts.queues.size).toBe(0);
    } finally {
      restore();
    }
  });
});
