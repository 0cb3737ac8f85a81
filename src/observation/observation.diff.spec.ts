import { diffDeclaredObserved } from './observation.diff';
import { requiredPlugins } from '../broker-topology/broker-facts';
import type { DeclaredCluster, Difference, ObservedFacts, ObservedNode } from './observation.types';

const declared: DeclaredCluster = {
  brokerClusterName: 'dc1',
  nodes: [
    { name: 'a@h', host: 'h', managementPort: 15001, type: 'disc' },
    { name: 'b@h', host: 'h', managementPort: 15002, type: 'ram' },
  ],
  partitionHandling: 'pause_minority',
};

function node(name: string, type: 'disc' | 'ram', over: Partial<ObservedNode> = {}): ObservedNode {
  return {
    name,
    running: true,
    type,
    partitions: [],
    memAlarm: false,
    diskAlarm: false,
    enabledPlugins: [...requiredPlugins, 'rabbitmq_prometheus'],
    ...over,
  };
}

function healthy(): ObservedFacts {
  return {
    reachable: true,
    perNode: [
      { name: 'a@h', managementReachable: true, answeredAs: 'a@h', latencyMs: 3 },
      { name: 'b@h', managementReachable: true, answeredAs: 'b@h', latencyMs: 4 },
    ],
    clusterName: 'dc1',
    nodes: [node('a@h', 'disc'), node('b@h', 'ram')],
    alarms: [],
    partitionHandling: null,
    unknown: [],
  };
}

type Case = [string, (f: ObservedFacts) => ObservedFacts, Partial<Difference>[]];

const stoppedB: ObservedNode = {
  name: 'b@h',
  running: false,
  type: 'ram',
  partitions: [],
  memAlarm: false,
  diskAlarm: false,
  enabledPlugins: null,
};
const bUnreachable = (f: ObservedFacts): ObservedFacts => ({
  ...f,
  perNode: [
    f.perNode[0],
    {
      name: 'b@h',
      managementReachable: false,
      error: { kind: 'unreachable', message: 'connect ECONNREFUSED 127.0.0.1:15002' },
      latencyMs: 1,
    },
  ],
});

const cases: Case[] = [
  ['healthy cluster', (f) => f, []],
  [
    'cluster name mismatch',
    (f) => ({ ...f, clusterName: 'rabbit@localhost' }),
    [
      {
        kind: 'cluster-name-mismatch',
        detail: 'cluster name is "rabbit@localhost", declared "dc1"',
      },
    ],
  ],
  ['cluster name unknown is not a mismatch', (f) => ({ ...f, clusterName: null }), []],
  [
    'declared node not a member',
    (f) => ({ ...f, nodes: [node('a@h', 'disc')] }),
    [{ kind: 'node-not-member', node: 'b@h' }],
  ],
  [
    'member not declared',
    (f) => ({ ...f, nodes: [...(f.nodes ?? []), node('c@h', 'disc')] }),
    [
      {
        kind: 'undeclared-member',
        node: 'c@h',
        detail: 'c@h is a running member of the cluster but is not declared',
      },
    ],
  ],
  [
    'declared node stopped (listener down too: reported once)',
    (f) => bUnreachable({ ...f, nodes: [node('a@h', 'disc'), stoppedB] }),
    [{ kind: 'node-not-running', node: 'b@h' }],
  ],
  [
    'listener down while the node runs',
    bUnreachable,
    [
      {
        kind: 'node-management-unreachable',
        node: 'b@h',
        detail:
          'management endpoint h:15002 of b@h did not answer: unreachable (connect ECONNREFUSED 127.0.0.1:15002)',
      },
    ],
  ],
  [
    'endpoints declared crosswise',
    (f) => ({
      ...f,
      perNode: f.perNode.map((r) => ({ ...r, answeredAs: r.name === 'a@h' ? 'b@h' : 'a@h' })),
    }),
    [
      { kind: 'management-endpoint-mismatch', node: 'a@h' },
      { kind: 'management-endpoint-mismatch', node: 'b@h' },
    ],
  ],
  [
    'type mismatch',
    (f) => ({ ...f, nodes: [node('a@h', 'ram'), node('b@h', 'ram')] }),
    [{ kind: 'node-type-mismatch', node: 'a@h', detail: 'a@h is a ram node, declared disc' }],
  ],
  [
    'unknown type is not a mismatch',
    (f) => ({ ...f, nodes: [node('a@h', 'disc', { type: null }), node('b@h', 'ram')] }),
    [],
  ],
  [
    'partitions',
    (f) => ({
      ...f,
      nodes: [
        node('a@h', 'disc', { partitions: ['b@h'] }),
        node('b@h', 'ram', { partitions: ['a@h'] }),
      ],
    }),
    [
      { kind: 'network-partition', node: 'a@h', detail: 'a@h is partitioned from b@h' },
      { kind: 'network-partition', node: 'b@h' },
    ],
  ],
  [
    'memory alarm from /api/nodes',
    (f) => ({ ...f, nodes: [node('a@h', 'disc', { memAlarm: true }), node('b@h', 'ram')] }),
    [{ kind: 'memory-alarm', node: 'a@h' }],
  ],
  [
    'disk alarm from the health check only (stats lag), reported once with the node flag',
    (f) => ({
      ...f,
      nodes: [node('a@h', 'disc'), node('b@h', 'ram', { diskAlarm: true })],
      alarms: [
        { node: 'b@h', resource: 'disk space' },
        { node: 'a@h', resource: 'memory' },
      ],
    }),
    [
      { kind: 'disk-alarm', node: 'b@h' },
      { kind: 'memory-alarm', node: 'a@h' },
    ],
  ],
  [
    'unrecognised alarm resource',
    (f) => ({ ...f, alarms: [{ node: 'a@h', resource: 'file descriptors' }] }),
    [
      {
        kind: 'resource-alarm',
        node: 'a@h',
        detail: 'a@h has a file descriptors alarm: publishers are blocked',
      },
    ],
  ],
  [
    'plugins missing on a running node',
    (f) => ({
      ...f,
      nodes: [
        node('a@h', 'disc', { enabledPlugins: ['rabbitmq_management', 'rabbitmq_federation'] }),
        node('b@h', 'ram'),
      ],
    }),
    [
      {
        kind: 'plugin-missing',
        node: 'a@h',
        detail:
          'a@h does not have rabbitmq_federation_management, rabbitmq_shovel, rabbitmq_shovel_management enabled',
      },
    ],
  ],
  [
    'plugins of a stopped node are not judged',
    (f) => ({ ...f, nodes: [node('a@h', 'disc'), { ...stoppedB, enabledPlugins: [] }] }),
    [{ kind: 'node-not-running', node: 'b@h' }],
  ],
  [
    'partition handling mismatch when observable',
    (f) => ({ ...f, partitionHandling: 'autoheal' }),
    [
      {
        kind: 'partition-handling-mismatch',
        detail: 'partition handling is autoheal, declared pause_minority',
      },
    ],
  ],
  [
    'nodes unknown: no membership verdicts, one incomplete entry',
    (f) => ({
      ...f,
      nodes: null,
      unknown: [{ endpoint: '/api/nodes', reason: 'protocol: not JSON' }],
    }),
    [
      {
        kind: 'observation-incomplete',
        detail: '/api/nodes could not be read (protocol: not JSON); what it reports is unknown',
      },
    ],
  ],
  [
    'unreachable cluster: one entry naming every node error',
    (f) => ({
      ...f,
      reachable: false,
      clusterName: null,
      nodes: null,
      alarms: null,
      perNode: f.perNode.map((r) => ({
        name: r.name,
        managementReachable: false,
        error: { kind: 'timeout' as const, message: 'timed out after 500 ms' },
        latencyMs: 500,
      })),
    }),
    [
      {
        kind: 'cluster-unreachable',
        detail:
          'no management endpoint of cluster dc1 answered: a@h: timeout (timed out after 500 ms); b@h: timeout (timed out after 500 ms)',
      },
    ],
  ],
];

describe('diffDeclaredObserved', () => {
  it.each(cases)('%s', (_name, mutate, expected) => {
    const diffs = diffDeclaredObserved(declared, mutate(healthy()));
    expect(diffs).toEqual(expected.map((e) => expect.objectContaining(e)));
    for (const d of diffs) expect(d.detail.length).toBeGreaterThan(0);
  });

  it('ignores partition handling when none is declared', () => {
    const { partitionHandling: _omit, ...noPh } = declared;
    expect(diffDeclaredObserved(noPh, { ...healthy(), partitionHandling: 'autoheal' })).toEqual([]);
  });

  it('is pure: same input, same output, inputs untouched', () => {
    const facts = healthy();
    facts.alarms = [{ node: 'a@h', resource: 'memory' }];
    const before = JSON.stringify(facts);
    expect(diffDeclaredObserved(declared, facts)).toEqual(diffDeclaredObserved(declared, facts));
    expect(JSON.stringify(facts)).toBe(before);
  });
});
