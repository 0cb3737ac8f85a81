import {
  alarmResource,
  mergeAlarms,
  missingPlugins,
  parseNodes,
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
