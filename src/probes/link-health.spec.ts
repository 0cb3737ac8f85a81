import {
  defaultThresholds,
  evaluateLinkHealth,
  pathStatus,
  pathView,
  percentile,
  worst,
  type LinkHealthInput,
} from './link-health';

const thresholds = defaultThresholds({ expectedRttMs: 50, probeIntervalMs: 1000 });
const up = pathView([{ at: 1, lagMs: 10 }], null, thresholds.downAfterMs);

const base = (over: Partial<LinkHealthInput> = {}): LinkHealthInput => ({
  kind: 'federation',
  paused: false,
  path: up,
  broker: { expected: 1, observed: 1, running: 1, problems: [] },
  alarms: [],
  backlog: null,
  thresholds,
  ...over,
});

describe('link health', () => {
  it('derives thresholds from the expected round trip and the probe interval', () => {
    expect(thresholds).toEqual({
      lagDegradedMs: 150,
      downAfterMs: 1250,
      backlogDegradedMessages: 1000,
    });
    expect(defaultThresholds({ expectedRttMs: 400, probeIntervalMs: 1000 })).toMatchObject({
      lagDegradedMs: 850,
      downAfterMs: 1250,
    });
  });

  it('is healthy when probes cross in time and the broker link runs', () => {
    expect(evaluateLinkHealth(base())).toMatchObject({ state: 'healthy', reasons: [] });
  });

  it('calls a link whose policy matches nothing missing (expected 1, observed 0)', () => {
    const v = evaluateLinkHealth(
      base({ broker: { expected: 1, observed: 0, running: 0, problems: [] } }),
    );
    expect(v.state).toBe('down');
    expect(v.reasons[0]).toMatchObject({
      code: 'missing',
      detail: 'expected 1 broker link(s), observed 0',
    });
  });

  it('is down when a probe is overdue, whatever the broker says', () => {
    const path = pathView([{ at: 1, lagMs: 10 }], 2000, thresholds.downAfterMs);
    const v = evaluateLinkHealth(base({ path }));
    expect(v.state).toBe('down');
    expect(v.reasons.map((r) => r.code)).toEqual(['probe-overdue']);
  });

  it('names an alarm as degraded, and keeps down when probes also stop', () => {
    const alarms = [
      { side: 'destination' as const, cluster: 'dc2', node: 'n1', alarm: 'memory' as const },
    ];
    expect(evaluateLinkHealth(base({ alarms })).state).toBe('degraded');
    const lost = pathView([{ at: 1, lagMs: null }], null, thresholds.downAfterMs);
    const v = evaluateLinkHealth(base({ kind: 'shovel', alarms, path: lost }));
    expect(v.state).toBe('down');
    expect(v.reasons.map((r) => r.code).sort()).toEqual(['alarm', 'probe-overdue']);
  });

  it('is degraded by lag p95 over the limit and by a growing backlog', () => {
    const slow = pathView(
      Array.from({ length: 20 }, (_, i) => ({ at: i, lagMs: 400 })),
      null,
      thresholds.downAfterMs,
    );
    expect(evaluateLinkHealth(base({ path: slow })).reasons[0].code).toBe('lag');
    const backlog = { messages: 5000, history: [1000, 3000, 5000], maxStalenessMs: 6000 };
    expect(evaluateLinkHealth(base({ backlog })).reasons[0].code).toBe('backlog-growing');
    const flat = { messages: 5000, history: [5000, 5000, 5000], maxStalenessMs: 6000 };
    expect(evaluateLinkHealth(base({ backlog: flat })).state).toBe('healthy');
  });

  it('leaves probes delivered after an outage out of the lag percentiles', () => {
    const v = pathView(
      [
        { at: 1, lagMs: 10 },
        { at: 2, lagMs: null },
        { at: 3, lagMs: 900, outage: true },
        { at: 4, lagMs: 12 },
      ],
      null,
      thresholds.downAfterMs,
    );
    expect(v).toMatchObject({ status: 'up', lagP95Ms: 12, lost: 1, sent: 4 });
  });

  it('gives the same up/down as the full view without computing percentiles', () => {
    const d = thresholds.downAfterMs;
    const cases: [Parameters<typeof pathStatus>[0], number | null, string][] = [
      [[], null, 'unknown'],
      [[], d + 1, 'down'],
      [[{ at: 1, lagMs: 10 }], null, 'up'],
      [[{ at: 1, lagMs: 10 }], d, 'up'],
      [[{ at: 1, lagMs: 10 }], d + 1, 'down'],
      [
        [
          { at: 1, lagMs: 10 },
          { at: 2, lagMs: null },
        ],
        null,
        'down',
      ],
      [
        [
          { at: 1, lagMs: null },
          { at: 2, lagMs: 900, outage: true },
        ],
        null,
        'up',
      ],
    ];
    for (const [window, oldest, status] of cases) {
      expect(pathStatus(window, oldest, d)).toBe(status);
      expect(pathView(window, oldest, d).status).toBe(status);
    }
  });

  it('is unknown without probe data or when paused', () => {
    expect(evaluateLinkHealth(base({ path: null })).state).toBe('unknown');
    expect(evaluateLinkHealth(base({ paused: true })).reasons[0].code).toBe('paused');
  });

  it('orders states and percentiles as documented', () => {
    expect(worst(['healthy', 'unknown', 'degraded'])).toBe('degraded');
    expect(worst([])).toBe('healthy');
    expect(percentile([5, 1, 3], 0.5)).toBe(3);
    expect(percentile([], 0.5)).toBeNull();
  });
});

describe('link health over TLS', () => {
  const certificateThresholds = { warnDays: 21, criticalDays: 7 };
  const cert = (daysToExpiry: number) => ({
    cluster: 'dc2',
    endpoint: 'link 10.0.0.2:5671',
    daysToExpiry,
    notAfter: '2027-01-01T00:00:00.000Z',
  });

  it('names certificate verification when the broker link fails its TLS handshake', () => {
    const v = evaluateLinkHealth(
      base({
        broker: {
          expected: 1,
          observed: 1,
          running: 0,
          problems: ['error ({tls_alert,{unknown_ca,"TLS client: ... Fatal - Unknown CA"}})'],
        },
      }),
    );
    expect(v.state).toBe('down');
    expect(v.reasons[0]).toMatchObject({
      code: 'certificate-verification-failed',
      detail: expect.stringContaining('TLS certificate verification failed'),
    });
  });

  it('warns at the thresholds and goes down once a certificate has expired', () => {
    const at = (days: number) =>
      evaluateLinkHealth(base({ certificates: [cert(days)], certificateThresholds }));
    expect(at(60).state).toBe('healthy');
    expect(at(20)).toMatchObject({
      state: 'degraded',
      reasons: [
        { code: 'certificate-expiring', detail: expect.stringMatching(/^warning: .* 20 day/) },
      ],
    });
    expect(at(5).reasons[0].detail).toMatch(
      /^critical: the certificate of cluster dc2 at link 10.0.0.2:5671 expires in 5 day/,
    );
    expect(at(-1)).toMatchObject({ state: 'down', reasons: [{ code: 'certificate-expired' }] });
  });
});
