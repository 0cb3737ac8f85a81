import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManagementClient } from '../../src/broker/management-client';
import type { DeclaredCluster } from '../../src/observation/observation.types';
import { observeCluster } from '../../src/observation/observe-cluster';
import { eventually } from '../helpers/eventually';
import { freePort } from '../helpers/ports';
import { loadSites, site, type LocalSite, type SitesState } from '../helpers/sites';

const run = promisify(execFile);

/**
 * Observation against the real local sites: a healthy cluster, wrong declarations, a cluster
 * nobody listens for, and a member stopped with `rabbitmqctl stop_app` (and started again).
 */
describe('cluster observation (real RabbitMQ 3.10)', () => {
  let state: SitesState;
  const timeoutMs = 3000;

  beforeAll(() => {
    state = loadSites();
  });

  function declaredFor(s: LocalSite): DeclaredCluster {
    return {
      brokerClusterName: s.clusterName,
      nodes: s.nodes.map((n) => ({
        name: n.name,
        host: n.host,
        managementPort: n.managementPort,
        type: n.type,
      })),
    };
  }

  function clientFor(declared: DeclaredCluster, timeout = timeoutMs): ManagementClient {
    return new ManagementClient({
      nodes: declared.nodes,
      scheme: 'http',
      username: state.admin.username,
      password: state.admin.password,
      timeoutMs: timeout,
    });
  }

  /** rabbitmqctl against a local-site node, with the sites' shared Erlang cookie in HOME. */
  async function rabbitmqctl(node: string, ...args: string[]): Promise<void> {
    await run('/usr/lib/rabbitmq/bin/rabbitmqctl', ['-q', '-n', node, ...args], {
      timeout: 90000,
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: join(state.dir, 'home'),
        LANG: 'C.UTF-8',
        LC_ALL: 'C.UTF-8',
        // The CLI's own distribution ports, from the block scripts/sites reserves for it.
        RABBITMQ_CTL_DIST_PORT_MIN: String(state.basePort + 70),
        RABBITMQ_CTL_DIST_PORT_MAX: String(state.basePort + 89),
      },
    });
  }

  it('sees a healthy two-node cluster as declared', async () => {
    const dc1 = site(state, 'dc1');
    const declared = declaredFor(dc1);
    const obs = await observeCluster(clientFor(declared), declared);

    expect(obs.differences).toEqual([]);
    expect(obs.reachable).toBe(true);
    expect(obs.rabbitmqVersion).toMatch(/^3\.10\./);
    expect(obs.erlangVersion).toMatch(/^\d+\./);
    expect(obs.clusterName).toBe(dc1.clusterName);
    expect(obs.unknown).toEqual([]);
    expect(obs.pluginsMissing).toEqual([]);
    expect(obs.alarms).toEqual([]);
    expect(obs.perNode).toEqual(
      dc1.nodes.map((n) =>
        expect.objectContaining({ name: n.name, managementReachable: true, answeredAs: n.name }),
      ),
    );
    expect(obs.nodes?.map((n) => [n.name, n.running, n.type, n.partitions]).sort()).toEqual(
      dc1.nodes.map((n) => [n.name, true, n.type, []]).sort(),
    );
    expect(Date.parse(obs.observedAt)).toBeGreaterThan(Date.now() - 60000);
    expect(JSON.stringify(obs)).not.toContain(state.admin.password);
  });

  it('lists differences for a wrong cluster name, node type and membership', async () => {
    const dc1 = site(state, 'dc1');
    const [first, second] = dc1.nodes;
    const ghostPort = await freePort();
    const declared: DeclaredCluster = {
      brokerClusterName: 'not-the-real-name',
      nodes: [
        { name: first.name, host: first.host, managementPort: first.managementPort, type: 'ram' },
        { name: 'ghost@localhost', host: '127.0.0.1', managementPort: ghostPort, type: 'disc' },
      ],
      partitionHandling: 'pause_minority',
    };
    const obs = await observeCluster(clientFor(declared), declared);

    expect(obs.reachable).toBe(true);
    const kinds = obs.differences.map((d) => `${d.kind} ${d.node ?? ''}`.trim());
    expect(kinds.sort()).toEqual(
      [
        'cluster-name-mismatch',
        `node-type-mismatch ${first.name}`,
        'node-not-member ghost@localhost',
        'node-management-unreachable ghost@localhost',
        `undeclared-member ${second.name}`,
      ].sort(),
    );
    expect(obs.differences.find((d) => d.kind === 'cluster-name-mismatch')?.detail).toBe(
      `cluster name is "${dc1.clusterName}", declared "not-the-real-name"`,
    );
    expect(obs.differences.find((d) => d.kind === 'node-type-mismatch')?.detail).toBe(
      `${first.name} is a disc node, declared ram`,
    );
  });

  it('reports an unreachable cluster with per-node errors within a bounded time', async () => {
    // One port nothing listens on, one listener that accepts and never answers.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const declared: DeclaredCluster = {
        brokerClusterName: 'nowhere',
        nodes: [
          { name: 'x1@nowhere', host: '127.0.0.1', managementPort: await freePort(), type: 'disc' },
          { name: 'x2@nowhere', host: '127.0.0.1', managementPort: silentPort, type: 'disc' },
        ],
      };
      const timeout = 1000;
      const started = Date.now();
      const obs = await observeCluster(clientFor(declared, timeout), declared);
      const elapsed = Date.now() - started;

      expect(elapsed).toBeLessThan(2 * timeout);
      expect(obs).toMatchObject({ reachable: false, nodes: null, clusterName: null });
      expect(obs.perNode.map((n) => [n.name, n.managementReachable, n.error?.kind])).toEqual([
        ['x1@nowhere', false, 'unreachable'],
        ['x2@nowhere', false, 'timeout'],
      ]);
      expect(obs.perNode[0].error?.message).toMatch(/ECONNREFUSED/);
      expect(obs.differences).toEqual([expect.objectContaining({ kind: 'cluster-unreachable' })]);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('shows a stopped member as not running while the other node answers', async () => {
    const dc2 = site(state, 'dc2');
    // dc3 (when present) is a single node, so "one stopped, the other answering" needs dc2.
    expect(dc2.nodes.length).toBeGreaterThanOrEqual(2);
    const declared = declaredFor(dc2);
    const client = clientFor(declared);
    const [first, second] = dc2.nodes;

    await rabbitmqctl(second.name, 'stop_app');
    try {
      const obs = await eventually(
        async () => {
          const o = await observeCluster(client, declared);
          const stopped = o.nodes?.find((n) => n.name === second.name);
          if (stopped?.running !== false) throw new Error(`${second.name} still reported running`);
          return o;
        },
        { timeoutMs: 30000, intervalMs: 500, description: `${second.name} seen stopped` },
      );
      expect(obs.reachable).toBe(true);
      expect(obs.perNode.map((n) => [n.name, n.managementReachable])).toEqual([
        [first.name, true],
        [second.name, false],
      ]);
      expect(obs.nodes?.find((n) => n.name === first.name)?.running).toBe(true);
      expect(obs.clusterName).toBe(dc2.clusterName);
      expect(obs.differences).toEqual([
        {
          kind: 'node-not-running',
          node: second.name,
          detail: `${second.name} is a member but is not running`,
        },
      ]);
    } finally {
      await rabbitmqctl(second.name, 'start_app');
    }
    // Leave the site as found: both members running and answering, nothing to report.
    await eventually(
      async () => {
        const o = await observeCluster(client, declared);
        if (o.differences.length) throw new Error(JSON.stringify(o.differences));
        return true;
      },
      { timeoutMs: 60000, intervalMs: 500, description: 'dc2 healthy again' },
    );
    // rabbitmqctl takes a few seconds per call; the budget covers the slow cases above.
  }, 300000);
});
