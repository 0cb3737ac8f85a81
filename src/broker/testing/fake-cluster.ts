import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, startFakeNode, type FakeNode, type FakeRequest } from './fake-management-server';

/**
 * A fake RabbitMQ cluster for error-path tests: each node answers a minimal healthy management
 * API (empty listings, a 3.10.8 overview, writes accepted) unless a fault is set for it. Not
 * imported by application code; real behaviour is proven against real brokers in test/e2e.
 */
export type FaultMode =
  | 'http-500'
  | 'http-503-html'
  | 'invalid-json'
  | 'truncated'
  | 'object-not-list'
  | 'strings-for-numbers'
  | 'missing-names'
  | 'never-ends'
  | 'late'
  | 'reset'
  | 'huge';

export const faultModes: readonly FaultMode[] = [
  'http-500',
  'http-503-html',
  'invalid-json',
  'truncated',
  'object-not-list',
  'strings-for-numbers',
  'missing-names',
  'never-ends',
  'late',
  'reset',
  'huge',
];

export interface Fault {
  mode: FaultMode;
  /** Which GETs misbehave (path without query); all of them when absent. Writes never do. */
  paths?: (path: string) => boolean;
}

export interface FakeCluster {
  nodes: FakeNode[];
  clusterName: string;
  /** Per node name; `undefined` = healthy. */
  faults: Map<string, Fault | undefined>;
  /** How long `late` waits before answering. */
  lateMs: number;
  requests(): (FakeRequest & { node: string })[];
  writes(): (FakeRequest & { node: string })[];
  reset(): void;
  close(): Promise<void>;
}

const listPaths = [
  '/api/parameters/',
  '/api/policies',
  '/api/exchanges',
  '/api/queues',
  '/api/bindings',
  '/api/federation-links',
  '/api/shovels',
  '/api/connections',
];

function healthy(cluster: FakeCluster, node: string, path: string, res: ServerResponse): void {
  if (path === '/api/overview')
    return sendJson(res, 200, {
      rabbitmq_version: '3.10.8',
      erlang_version: '25.2.3',
      cluster_name: cluster.clusterName,
      node,
    });
  if (path === '/api/nodes')
    return sendJson(
      res,
      200,
      cluster.nodes.map((n) => ({
        name: n.name,
        type: 'disc',
        running: true,
        partitions: [],
        mem_alarm: false,
        disk_free_alarm: false,
        enabled_plugins: [
          'rabbitmq_management',
          'rabbitmq_federation',
          'rabbitmq_federation_management',
          'rabbitmq_shovel',
          'rabbitmq_shovel_management',
        ],
      })),
    );
  if (path === '/api/cluster-name') return sendJson(res, 200, { name: cluster.clusterName });
  if (path === '/api/health/checks/alarms') return sendJson(res, 200, { status: 'ok' });
  if (listPaths.some((p) => path.startsWith(p)) && path.split('/').length <= 5)
    return sendJson(res, 200, []);
  sendJson(res, 404, { error: 'Object Not Found', reason: 'Not Found' });
}

/** A listing item with every scalar as a string, as a broken proxy might re-encode it. */
const stringly = {
  name: 'x',
  vhost: '/',
  pattern: '^x',
  'apply-to': 'queues',
  definition: {},
  priority: '1',
  durable: 'true',
  auto_delete: 'false',
  internal: 'false',
  type: 'direct',
  arguments: {},
  value: '{}',
  running: 'true',
  status: 'running',
};

function misbehave(mode: FaultMode, cluster: FakeCluster, res: ServerResponse): void {
  switch (mode) {
    case 'http-500':
      return sendJson(res, 500, { error: 'internal_error', reason: 'boom' });
    case 'http-503-html': {
      const html = '<html><body><h1>503 Service Unavailable</h1></body></html>';
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end(html);
      return;
    }
    case 'invalid-json':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"this is": not json at all');
      return;
    case 'truncated': {
      // Declares the whole body, sends half of it, then drops the connection.
      const body = JSON.stringify([{ name: 'a', vhost: '/', value: { uri: 'amqp://h' } }]);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.write(body.slice(0, 20));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    case 'object-not-list':
      return sendJson(res, 200, { items: [], node: 7, name: 7, status: 7 });
    case 'strings-for-numbers':
      return sendJson(res, 200, [stringly]);
    case 'missing-names':
      return sendJson(res, 200, [{ vhost: '/', durable: true, arguments: {} }]);
    case 'never-ends':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      return;
    case 'late': {
      const timer = setTimeout(() => sendJson(res, 200, []), cluster.lateMs);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case 'reset':
      res.socket?.destroy();
      return;
    case 'huge': {
      // Far more than any client bound, announced up front.
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(1024 * 1024 * 1024),
      });
      res.write('[');
      return;
    }
  }
}

export async function startFakeCluster(
  nodeNames: string[],
  clusterName = 'fake-cluster',
): Promise<FakeCluster> {
  const cluster: FakeCluster = {
    nodes: [],
    clusterName,
    faults: new Map(),
    lateMs: 10_000,
    requests: () => cluster.nodes.flatMap((n) => n.requests.map((r) => ({ ...r, node: n.name }))),
    writes: () => cluster.requests().filter((r) => r.method !== 'GET'),
    reset: () => {
      for (const n of cluster.nodes) n.requests.length = 0;
    },
    close: async () => {
      await Promise.all(cluster.nodes.map((n) => n.close()));
    },
  };
  for (const name of nodeNames) {
    const node = await startFakeNode(name, (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '').split('?')[0];
      const fault = cluster.faults.get(name);
      if (req.method !== 'GET') {
        res.writeHead(201);
        res.end();
        return;
      }
      if (fault && (!fault.paths || fault.paths(decodeURI(path))))
        return misbehave(fault.mode, cluster, res);
      healthy(cluster, name, path, res);
    });
    cluster.nodes.push(node);
  }
  return cluster;
}
