import {
  alarmResource,
  mergeAlarms,
  missingPlugins,
  parseFederationLinks,
  parseNodes,
  parseShovels,
  uniqueFederationLinks,
  parseOverview,
  requiredPlugins,
} from './broker-facts';

describe('parseNodes', () => {
  it('reads running members and the stub 3.10 lists for a stopped member', () => {
    const parsed = parseNodes([
      {
        name: 'a@h',
        type: 'disc',
        running: true,
        partitions: [],
        mem_alarm: false,
        disk_free_alarm: true,
        enabled_plugins: ['rabbitmq_management'],
      },
      { name: 'b@h', type: 'ram', running: false, cluster_links: [] },
    ]);
    expect(parsed).toEqual({
      ok: true,
      value: [
        {
          name: 'a@h',
          running: true,
          type: 'disc',
          partitions: [],
          memAlarm: false,
          diskAlarm: true,
          enabledPlugins: ['rabbitmq_management'],
        },
        {
          name: 'b@h',
          running: false,
          type: 'ram',
          partitions: [],
          memAlarm: false,
          diskAlarm: false,
          enabledPlugins: null,
        },
      ],
    });
  });

  it.each([
    ['not an array', { nodes: [] }, 'nodes is not an array'],
    ['nameless entry', [{ running: true }], 'nodes[0] has an invalid name'],
    ['running as text', [{ name: 'a', running: 'yes' }], 'nodes[0] has an invalid running'],
    [
      'partitions not strings',
      [{ name: 'a', running: true, partitions: [1] }],
      'nodes[0] has an invalid partitions',
    ],
    [
      'alarm not boolean',
      [{ name: 'a', running: true, mem_alarm: 'no' }],
      'nodes[0] has an invalid mem_alarm',
    ],
    [
      'plugins not a list',
      [{ name: 'a', running: true, enabled_plugins: 'x' }],
      'nodes[0] has an invalid enabled_plugins',
    ],
  ])('rejects %s as a whole', (_n, raw, reason) => {
    expect(parseNodes(raw)).toEqual({ ok: false, reason });
  });

  it('keeps an unexpected node type as unknown rather than guessing', () => {
    const parsed = parseNodes([{ name: 'a', running: true, type: 'khepri' }]);
    expect(parsed.ok && parsed.value[0].type).toBeNull();
  });
});

describe('parseOverview', () => {
  it('reads versions and cluster name', () => {
    expect(
      parseOverview({ rabbitmq_version: '3.10.8', erlang_version: '25.2.3', cluster_name: 'dc1' }),
    ).toEqual({
      ok: true,
      value: { rabbitmqVersion: '3.10.8', erlangVersion: '25.2.3', clusterName: 'dc1' },
    });
    expect(parseOverview({})).toEqual({
      ok: true,
      value: { rabbitmqVersion: null, erlangVersion: null, clusterName: null },
    });
  });

  it('rejects garbage', () => {
    expect(parseOverview([1]).ok).toBe(false);
    expect(parseOverview({ rabbitmq_version: 3.1 }).ok).toBe(false);
  });
});

describe('alarms and plugins', () => {
  it('classifies 3.10 alarm resources', () => {
    expect(alarmResource('memory')).toBe('memory');
    expect(alarmResource('disk space')).toBe('disk');
    expect(alarmResource('file descriptors')).toBe('other');
  });

  it('merges real-time health check alarms into lagging node flags', () => {
    const nodes = parseNodes([
      { name: 'a', running: true, mem_alarm: false, disk_free_alarm: false },
      { name: 'b', running: true, mem_alarm: true, disk_free_alarm: false },
    ]);
    if (!nodes.ok) throw new Error(nodes.reason);
    const merged = mergeAlarms(nodes.value, [{ node: 'a', resource: 'disk space' }]);
    expect(merged.map((n) => [n.name, n.memAlarm, n.diskAlarm])).toEqual([
      ['a', false, true],
      ['b', true, false],
    ]);
  });

  it('lists missing plugins per running node only', () => {
    const nodes = parseNodes([
      { name: 'a', running: true, enabled_plugins: [...requiredPlugins] },
      { name: 'b', running: true, enabled_plugins: ['rabbitmq_management'] },
      { name: 'c', running: false },
    ]);
    if (!nodes.ok) throw new Error(nodes.reason);
    expect(missingPlugins(nodes.value)).toEqual([
      { node: 'b', plugins: requiredPlugins.filter((p) => p !== 'rabbitmq_management') },
    ]);
    expect(missingPlugins(null)).toEqual([]);
  });
});

describe('status lists (federation links, shovels)', () => {
  it('reads federation links, one per vhost, upstream and object, errors redacted', () => {
    const raw = [
      { vhost: '/', upstream: 'u', exchange: 'x', status: 'running', node: 'n1', id: 'a' },
      { vhost: '/', upstream: 'u', exchange: 'x', status: 'starting', node: 'n2', id: 'b' },
      {
        vhost: '/',
        upstream: 'u',
        queue: 'q',
        status: 'error',
        error: 'cannot reach amqp://link:s3cret@h:5672',
      },
    ];
    const p = parseFederationLinks(raw);
    if (!p.ok) throw new Error(p.reason);
    expect(p.value).toHaveLength(3);
    const unique = uniqueFederationLinks(p.value);
    expect(unique.map((l) => [l.object, l.status, l.id])).toEqual([
      ['x', 'running', 'a'],
      ['q', 'error', undefined],
    ]);
    expect(unique[1].error).not.toContain('s3cret');
  });

  it.each([
    [{ items: [] }, 'federation links: not a list'],
    [
      [{ vhost: '/', status: 'running', exchange: 'x' }],
      'federation links: item 0 lacks string "upstream"',
    ],
    [
      [{ vhost: '/', upstream: 'u', status: 'running' }],
      'federation links: item 0 lacks one of exchange, queue',
    ],
  ])('refuses %j', (raw, reason) => {
    expect(parseFederationLinks(raw)).toEqual({ ok: false, reason });
  });

  it('reads shovels once per vhost and name (3.10 may list one twice)', () => {
    const p = parseShovels([
      { vhost: '/', name: 's', state: 'running', node: 'n1' },
      { vhost: '/', name: 's', state: 'starting', node: 'n2' },
      { vhost: 'v', name: 's' },
    ]);
    expect(p).toEqual({
      ok: true,
      value: [
        {
          vhost: '/',
          name: 's',
          state: 'running',
          node: 'n1',
          reason: undefined,
          timestamp: undefined,
        },
        {
          vhost: 'v',
          name: 's',
          state: 'unknown',
          node: undefined,
          reason: undefined,
          timestamp: undefined,
        },
      ],
    });
    expect(parseShovels(['x'])).toEqual({ ok: false, reason: 'shovels: item 0 is not an object' });
  });
});
