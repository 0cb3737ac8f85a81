import {
  alarmCauses,
  blockingAlarms,
  brokerCauses,
  brokerLinkState,
  explainDivergence,
  primaryCause,
  type LinkCause,
} from './link-verdict';
import { defaultThresholds, evaluateLinkHealth, pathView } from './link-health';

const refused = `{server_initiated_close,403,\n   <<"ACCESS_REFUSED - access to queue 'federation: orders -> dc2' in vhost 'v' refused for user 'crossdock-link'">>}`;

describe('link verdict model', () => {
  it('classifies the rows that do not run, and only those', () => {
    const causes = brokerCauses([
      { object: 'orders', status: 'running' },
      { object: 'orders', status: 'shutdown', error: refused },
      { object: 'other', status: 'error', error: 'econnrefused' },
    ]);
    expect(causes.map((c) => [c.code, c.link, c.source])).toEqual([
      ['access-refused', 'orders', 'broker-status'],
      ['connection-refused', 'other', 'broker-status'],
    ]);
  });

  it('prefers the cause that names an object over a bare restart', () => {
    const restarting: LinkCause = { code: 'restarting', detail: 'x', source: 'broker-status' };
    const nf: LinkCause = { code: 'not-found', detail: 'y', source: 'preflight' };
    expect(primaryCause([restarting, nf])).toBe(nf);
    expect(primaryCause([])).toBeNull();
  });

  it('sums up the broker state', () => {
    expect(brokerLinkState(1, 1, 1)).toBe('running');
    expect(brokerLinkState(2, 2, 1)).toBe('partial');
    expect(brokerLinkState(1, 0, 0)).toBe('missing');
    expect(brokerLinkState(1, 1, 0)).toBe('down');
  });

  it('leaves downstream alarms out of what blocks a link', () => {
    const alarms = [
      { side: 'downstream' as const, cluster: 'dc2', node: 'n', alarm: 'memory' },
      { side: 'destination' as const, cluster: 'dc2', node: 'n', alarm: 'memory' },
    ];
    expect(blockingAlarms(alarms)).toEqual([alarms[1]]);
    expect(alarmCauses([alarms[1]])[0]).toMatchObject({
      code: 'resource-alarm',
      source: 'node-alarm',
      cluster: 'dc2',
    });
  });

  it('explains a difference between the broker and the data plane, and only a difference', () => {
    const alarm = alarmCauses([
      { side: 'destination', cluster: 'dc2', node: 'n', alarm: 'memory' },
    ])[0];
    expect(explainDivergence({ broker: 'running', dataPlane: 'healthy', cause: null })).toBeNull();
    expect(explainDivergence({ broker: 'down', dataPlane: 'down', cause: null })).toBeNull();
    expect(explainDivergence({ broker: 'running', dataPlane: 'down', cause: alarm })).toContain(
      'memory alarm on destination cluster dc2',
    );
    expect(
      explainDivergence({
        broker: 'running',
        dataPlane: 'down',
        cause: null,
        dataPlaneDetail: 'probe lost',
      }),
    ).toContain('heartbeats');
    expect(explainDivergence({ broker: 'down', dataPlane: 'healthy', cause: null })).toContain(
      'probes still cross',
    );
  });
});

describe('health with the verdict model', () => {
  const thresholds = defaultThresholds({ expectedRttMs: 50, probeIntervalMs: 1000 });
  const up = pathView([{ at: 1, lagMs: 10 }], null, thresholds.downAfterMs);
  const overdue = pathView([{ at: 1, lagMs: 10 }], 5000, thresholds.downAfterMs);

  it('a federation link refused by the upstream: the reason carries the object and user', () => {
    const v = evaluateLinkHealth({
      kind: 'federation',
      paused: false,
      path: up,
      broker: {
        expected: 1,
        observed: 1,
        running: 0,
        problems: ['orders: shutdown'],
        rows: [{ object: 'orders', status: 'shutdown', error: refused }],
      },
      alarms: [],
      backlog: null,
      thresholds,
    });
    expect(v.state).toBe('down');
    expect(v.reasons[0]).toMatchObject({
      code: 'broker-link-not-running',
      cause: { code: 'access-refused', user: 'crossdock-link' },
    });
    expect(v.cause?.object).toEqual({
      kind: 'queue',
      name: 'federation: orders -> dc2',
      vhost: 'v',
    });
    expect(v.brokerState).toBe('down');
    expect(v.divergence).toBeNull();
  });

  it('a cut WAN: probe-overdue carries the broker connection error', () => {
    const v = evaluateLinkHealth({
      kind: 'federation',
      paused: false,
      path: overdue,
      broker: {
        expected: 1,
        observed: 1,
        running: 0,
        problems: ['orders: error (econnrefused)'],
        rows: [{ object: 'orders', status: 'error', error: 'econnrefused' }],
      },
      alarms: [],
      backlog: null,
      thresholds,
    });
    const overdueReason = v.reasons.find((r) => r.code === 'probe-overdue');
    expect(overdueReason?.cause?.code).toBe('connection-refused');
    expect(overdueReason?.detail).toContain('connection refused');
  });

  it('a shovel the broker calls running under a destination memory alarm: the divergence names it', () => {
    const v = evaluateLinkHealth({
      kind: 'shovel',
      paused: false,
      path: overdue,
      broker: {
        expected: 1,
        observed: 1,
        running: 1,
        problems: [],
        rows: [{ object: 's', status: 'running' }],
      },
      alarms: [{ side: 'destination', cluster: 'dc2', node: 'dc2-1', alarm: 'memory' }],
      backlog: null,
      thresholds,
    });
    expect(v.state).toBe('down');
    expect(v.brokerState).toBe('running');
    expect(v.cause).toMatchObject({ code: 'resource-alarm', cluster: 'dc2' });
    expect(v.divergence).toContain('memory alarm on destination cluster dc2');
  });

  it('a 3.10 shovel saying only "needed a restart": the preflight finding is the cause', () => {
    const v = evaluateLinkHealth({
      kind: 'shovel',
      paused: false,
      path: up,
      broker: {
        expected: 1,
        observed: 1,
        running: 0,
        problems: ['terminated ("needed a restart")'],
        rows: [{ object: 's', status: 'terminated', error: '"needed a restart"' }],
      },
      preflight: {
        code: 'not-found',
        detail: 'not found: no queue "q" in vhost "v"',
        object: { kind: 'queue', name: 'q', vhost: 'v' },
        source: 'preflight',
        cluster: 'dc2',
      },
      alarms: [],
      backlog: null,
      thresholds,
    });
    expect(v.cause).toMatchObject({ code: 'not-found', source: 'preflight' });
    expect(v.reasons[0].detail).toContain('no queue "q"');
  });
});
