import {
  alarmCauses,
  blockingAlarms,
  brokerCauses,
  brokerLinkState,
  explainDivergence,
  primaryCause,
  type BrokerLinkState,
  type BrokerRow,
  type LinkCause,
} from './link-verdict';
import { classifyLinkFailure } from '../broker-topology/link-failure';

/**
 * Link health from what actually crosses: probe lag and loss on the link's path, the broker's own
 * link state (expected vs observed), resource alarms on either side, and backlog growth. Pure.
 */
export type HealthState = 'healthy' | 'degraded' | 'down' | 'unknown';

export interface HealthReason {
  code:
    | 'paused'
    | 'no-probe-data'
    | 'probe-overdue'
    | 'lag'
    | 'missing'
    | 'no-targets'
    | 'broker-link-not-running'
    | 'alarm'
    | 'backlog-growing'
    | 'no-consumer'
    | 'cluster-unreachable'
    | 'certificate-verification-failed'
    | 'certificate-expiring'
    | 'certificate-expired';
  state: Exclude<HealthState, 'healthy'>;
  detail: string;
  /** The classified cause behind this reason, when crossdock knows it (see link-verdict.ts). */
  cause?: LinkCause;
}

export interface HealthThresholds {
  /** Probe lag p95 above this: degraded. */
  lagDegradedMs: number;
  /** A probe not received this long after it was sent is lost; the path is down. */
  downAfterMs: number;
  /** Backlog at least this large and growing over the last readings: degraded. */
  backlogDegradedMessages: number;
}

export interface ThresholdDefaultsInput {
  /** Largest expected WAN round-trip of the two sites. */
  expectedRttMs: number;
  probeIntervalMs: number;
}

/**
 * Defaults from the sites' expected round-trip: lag is judged against twice the RTT (plus a floor
 * for broker hops), loss against one and a quarter probe intervals or two RTTs, whichever is later.
 */
export function defaultThresholds(i: ThresholdDefaultsInput): HealthThresholds {
  return {
    lagDegradedMs: Math.max(100, 2 * i.expectedRttMs + 50),
    downAfterMs: Math.max(Math.round(1.25 * i.probeIntervalMs), 2 * i.expectedRttMs + 250),
    backlogDegradedMessages: 1000,
  };
}

export interface PathView {
  /** up: the newest probe arrived in time; down: one is overdue or was lost; unknown: no data. */
  status: 'up' | 'down' | 'unknown';
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  sent: number;
  lost: number;
  /** Age of the oldest probe still in flight. */
  oldestPendingMs: number | null;
  /** Why the path cannot be measured right now (crossdock cannot reach a cluster). */
  unmeasurable?: string;
}

export interface BrokerLinkView {
  expected: number;
  observed: number;
  running: number;
  /** Non-running states as the broker reports them (redacted). */
  problems: string[];
  /** The broker links as listed (redacted error text), to classify their causes. */
  rows?: BrokerRow[];
}

export interface AlarmView {
  side: 'upstream' | 'downstream' | 'source' | 'destination';
  cluster: string;
  node: string;
  /** `memory`, `disk`, or the broker's own resource name. */
  alarm: string;
}

export interface BacklogView {
  messages: number | null;
  consumers?: number | null;
  /** Readings (oldest first) used for the growth test. */
  history: number[];
  /** Broker statistics are up to this old (collect_statistics_interval) plus the poll age. */
  maxStalenessMs: number;
}

export interface LinkHealthInput {
  kind: 'federation' | 'shovel';
  paused: boolean;
  path: PathView | null;
  broker: BrokerLinkView | null;
  brokerUnavailable?: string;
  alarms: AlarmView[];
  backlog: BacklogView | null;
  thresholds: HealthThresholds;
  /** Certificates the TLS endpoints of the link's two clusters present (none without TLS). */
  certificates?: CertificateView[];
  /** TLS_CERT_WARN_DAYS / TLS_CERT_CRITICAL_DAYS. */
  certificateThresholds?: { warnDays: number; criticalDays: number };
  /** What crossdock's own check with the link user's credentials found (shovels), if anything. */
  preflight?: LinkCause | null;
}

export interface CertificateView {
  cluster: string;
  endpoint: string;
  daysToExpiry: number | null;
  notAfter: string | null;
}

export interface LinkHealthVerdict {
  state: HealthState;
  reasons: HealthReason[];
  /** The broker's own state of the link; null when the broker could not be read. */
  brokerState: BrokerLinkState | null;
  /** The most specific classified cause of a link that does not run or does not move data. */
  cause: LinkCause | null;
  /** Why the broker's state and the data-plane state differ; null when they agree. */
  divergence: string | null;
}

const rank: Record<HealthState, number> = { healthy: 0, unknown: 1, degraded: 2, down: 3 };

export function worst(states: HealthState[]): HealthState {
  return states.reduce<HealthState>((a, b) => (rank[b] > rank[a] ? b : a), 'healthy');
}

export function evaluateLinkHealth(i: LinkHealthInput): LinkHealthVerdict {
  if (i.paused)
    return {
      state: 'unknown',
      reasons: [{ code: 'paused', state: 'unknown', detail: 'the link is paused' }],
      brokerState: null,
      cause: null,
      divergence: null,
    };
  const reasons: HealthReason[] = [];
  const add = (
    code: HealthReason['code'],
    state: HealthReason['state'],
    detail: string,
    cause?: LinkCause | null,
  ) => reasons.push({ code, state, detail, ...(cause ? { cause } : {}) });
  const fromBroker = brokerCauses(i.broker?.rows ?? []);
  const linkCause = primaryCause(i.preflight ? [...fromBroker, i.preflight] : fromBroker);
  const alarmCause = primaryCause(alarmCauses(blockingAlarms(i.alarms)));
  const brokerState = i.broker
    ? brokerLinkState(i.broker.expected, i.broker.observed, i.broker.running)
    : null;

  if (i.brokerUnavailable) add('cluster-unreachable', 'unknown', i.brokerUnavailable);
  if (i.broker) {
    const b = i.broker;
    if (b.expected === 0) {
      add('no-targets', 'degraded', 'the link covers no existing object (expected 0 broker links)');
    } else if (b.observed === 0) {
      add('missing', 'down', `expected ${b.expected} broker link(s), observed 0`);
    } else if (
      b.running === 0 &&
      (linkCause?.certificateVerification ||
        (!b.rows && b.problems.some((p) => classifyLinkFailure(p)?.certificateVerification)))
    ) {
      add(
        'certificate-verification-failed',
        'down',
        `TLS certificate verification failed on the link: ${b.problems.join('; ')}`,
        linkCause,
      );
    } else if (b.running === 0) {
      add(
        'broker-link-not-running',
        'down',
        `no broker link running: ${linkCause ? `${linkCause.detail} (broker: ${b.problems.join('; ')})` : b.problems.join('; ')}`,
        linkCause,
      );
    } else if (b.running < b.expected) {
      add(
        b.observed < b.expected ? 'missing' : 'broker-link-not-running',
        'degraded',
        `expected ${b.expected} broker link(s), observed ${b.observed}, running ${b.running}${b.problems.length ? `: ${b.problems.join('; ')}` : ''}`,
        linkCause,
      );
    }
  }
  const ct = i.certificateThresholds;
  for (const c of i.certificates ?? []) {
    if (c.daysToExpiry === null || !ct) continue;
    const where = `the certificate of cluster ${c.cluster} at ${c.endpoint}`;
    if (c.daysToExpiry < 0) add('certificate-expired', 'down', `${where} expired on ${c.notAfter}`);
    else if (c.daysToExpiry <= ct.criticalDays)
      add(
        'certificate-expiring',
        'degraded',
        `critical: ${where} expires in ${c.daysToExpiry} day(s) (${c.notAfter}; critical threshold ${ct.criticalDays} days)`,
      );
    else if (c.daysToExpiry <= ct.warnDays)
      add(
        'certificate-expiring',
        'degraded',
        `warning: ${where} expires in ${c.daysToExpiry} day(s) (${c.notAfter}; warning threshold ${ct.warnDays} days)`,
      );
  }
  for (const [k, a] of i.alarms.entries()) {
    add(
      'alarm',
      'degraded',
      `${a.alarm} alarm on ${a.side} cluster ${a.cluster} (node ${a.node})`,
      alarmCauses([i.alarms[k]])[0],
    );
  }
  const p = i.path;
  if (!p || p.unmeasurable) {
    add('no-probe-data', 'unknown', p?.unmeasurable ?? 'no probe has crossed this path yet');
  } else if (p.status === 'down') {
    // The broker's own error (a cut WAN: econnrefused, closed, timeout) or an alarm says why.
    const why = linkCause ?? alarmCause;
    add(
      'probe-overdue',
      'down',
      `${
        p.oldestPendingMs !== null && p.oldestPendingMs > i.thresholds.downAfterMs
          ? `a probe sent ${Math.round(p.oldestPendingMs)} ms ago has not arrived (limit ${i.thresholds.downAfterMs} ms)`
          : `the last probe did not arrive within ${i.thresholds.downAfterMs} ms`
      }${why ? `; ${why.detail}` : ''}`,
      why,
    );
  } else if (p.status === 'unknown') {
    add('no-probe-data', 'unknown', 'no probe has crossed this path yet');
  } else if (p.lagP95Ms !== null && p.lagP95Ms > i.thresholds.lagDegradedMs) {
    add(
      'lag',
      'degraded',
      `probe lag p95 ${p.lagP95Ms.toFixed(1)} ms over the limit of ${i.thresholds.lagDegradedMs} ms`,
    );
  }
  const bl = i.backlog;
  if (bl) {
    const h = bl.history;
    const growing = h.length >= 3 && h.every((v, k) => k === 0 || v > h[k - 1]);
    if (growing && (bl.messages ?? 0) >= i.thresholds.backlogDegradedMessages) {
      add('backlog-growing', 'degraded', `backlog grew over the last readings: ${h.join(' -> ')}`);
    }
    if (i.kind === 'shovel' && bl.consumers === 0) {
      add(
        'no-consumer',
        'down',
        'the shovel source queue has no consumer: the shovel is not reading',
      );
    }
  }
  const state = worst(reasons.map((r) => r.state));
  const cause = state === 'healthy' && brokerState === 'running' ? null : (linkCause ?? alarmCause);
  const firstDown = reasons.find((r) => r.state === state) ?? null;
  return {
    state,
    reasons,
    brokerState,
    cause,
    divergence: explainDivergence({
      broker: brokerState,
      dataPlane: state,
      cause,
      dataPlaneDetail: firstDown?.detail ?? null,
    }),
  };
}

/** Nearest-rank percentile of a list (not sorted in place). */
export function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export interface ResolvedProbe {
  at: number;
  /** null: lost (not received within downAfterMs). */
  lagMs: number | null;
  /**
   * Sent while the path was down and delivered after it recovered: it proves data crosses
   * again, but its lag measures the outage, not the link, so percentiles leave it out.
   */
  outage?: boolean;
}

/** Up or down: an overdue probe, else the newest resolution decides (no percentiles needed). */
export function pathStatus(
  window: readonly ResolvedProbe[],
  oldestPendingMs: number | null,
  downAfterMs: number,
): PathView['status'] {
  if (oldestPendingMs !== null && oldestPendingMs > downAfterMs) return 'down';
  const newest = window[window.length - 1];
  if (!newest) return 'unknown';
  return newest.lagMs === null ? 'down' : 'up';
}

/** A path's view over its window: the newest resolution decides up/down. */
export function pathView(
  window: readonly ResolvedProbe[],
  oldestPendingMs: number | null,
  downAfterMs: number,
): PathView {
  const lags = window.filter((w) => w.lagMs !== null && !w.outage).map((w) => w.lagMs as number);
  return {
    status: pathStatus(window, oldestPendingMs, downAfterMs),
    lagP50Ms: percentile(lags, 0.5),
    lagP95Ms: percentile(lags, 0.95),
    sent: window.length,
    lost: window.filter((w) => w.lagMs === null).length,
    oldestPendingMs,
  };
}
