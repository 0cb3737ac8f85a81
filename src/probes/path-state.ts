import { pathView, percentile, type PathView, type ResolvedProbe } from './link-health';
import { probeNames, type ProbePath } from './probe-topology';
import type { LinkModel } from './probe-model';

/** What the probe loop keeps per path it holds. */
export interface PathState {
  path: ProbePath;
  seq: number;
  /** seq -> send time (the clock's monotonic time of this process). */
  pending: Map<number, number>;
  window: ResolvedProbe[];
  downAfterMs: number;
  unmeasurable?: string;
  lastStatus?: PathView['status'];
  /** Probes in flight while the path was down (their lag measures the outage). */
  outage: Set<number>;
  /**
   * When this path's probe task got its sessions and started binding and consuming (monotonic
   * time); unset once it publishes (the probe is pending then) or ends. A task still there after
   * downAfterMs counts as an overdue probe (a blocked connection answers no channel operation).
   */
  busySince?: number;
}

/** A cluster's loopback: crossdock's own legs, measured through an exclusive queue. */
export interface LoopState {
  queue?: string;
  epoch: number;
  seq: number;
  pending: Map<number, number>;
  window: { at: number; ms: number }[];
  /** Half the median of `window` (this end's share of a probe's time), kept as it changes. */
  half: number;
}

export type { SampleRow } from './probe-samples.repository';

/** A probe message: instance, path (`loop:<cluster>` for loopbacks), sequence, send time. */
export interface ProbeBody {
  i: string;
  p: string;
  s: number;
  t: number;
}

export const loopPathId = (clusterId: string) => `loop:${clusterId}`;

export function newPathState(p: ProbePath): PathState {
  return { path: p, seq: 0, pending: new Map(), window: [], downAfterMs: 1000, outage: new Set() };
}

/** Adds a resolved probe to the path's window, dropping those older than the window. */
export function resolveProbe(s: PathState, r: ResolvedProbe, windowMs: number): void {
  s.window.push(r);
  const cutoff = r.at - windowMs;
  while (s.window.length && s.window[0].at < cutoff) s.window.shift();
}

/** Adds a loopback time to the window and keeps its half median. */
export function resolveLoop(l: LoopState, now: number, ms: number, windowMs: number): void {
  l.window.push({ at: now, ms });
  const cutoff = now - windowMs;
  while (l.window.length && l.window[0].at < cutoff) l.window.shift();
  l.half =
    (percentile(
      l.window.map((w) => w.ms),
      0.5,
    ) ?? 0) / 2;
}

/** A probe of this instance (`via`: only the copy that arrived on that path counts), or none. */
export function parseProbe(
  content: Buffer,
  instanceId: string,
  via?: string,
): ProbeBody | undefined {
  let b: ProbeBody;
  try {
    b = JSON.parse(content.toString('utf8')) as ProbeBody;
  } catch {
    return undefined;
  }
  if (b?.i !== instanceId || typeof b.p !== 'string' || typeof b.s !== 'number') return undefined;
  if (via !== undefined && b.p !== via) return undefined;
  return b;
}

/**
 * A path's probe arrived: resolved with its lag (the time it took less crossdock's own legs,
 * `baseline`). None when it is not pending (late, already counted lost, or a replay).
 */
export function receivePathProbe(
  s: PathState,
  b: ProbeBody,
  now: number,
  baseline: number,
  windowMs: number,
): { lagMs: number; rawMs: number } | undefined {
  const sent = s.pending.get(b.s);
  if (sent === undefined) return undefined;
  s.pending.delete(b.s);
  const raw = now - sent;
  const lag = Math.max(0, raw - baseline);
  const outage = s.outage.delete(b.s);
  resolveProbe(s, outage ? { at: now, lagMs: lag, outage } : { at: now, lagMs: lag }, windowMs);
  return { lagMs: lag, rawMs: raw };
}

/** Probes pending past the path's downAfterMs are lost: resolved as such, each reported. */
export function expirePending(
  s: PathState,
  now: number,
  windowMs: number,
  onLost: (seq: number) => void,
): void {
  for (const [seq, sent] of s.pending) {
    if (now - sent <= s.downAfterMs) continue;
    s.pending.delete(seq);
    resolveProbe(s, { at: now, lagMs: null }, windowMs);
    onLost(seq);
  }
}

/** How long the oldest pending probe (or a busy probe task) has waited. */
export function oldestPending(s: PathState, now: number): number | null {
  let oldest: number | null = s.busySince === undefined ? null : now - s.busySince;
  for (const sent of s.pending.values()) oldest = Math.max(oldest ?? 0, now - sent);
  return oldest;
}

export function viewOf(s: PathState, now: number): PathView {
  const v = pathView(s.window, oldestPending(s, now), s.downAfterMs);
  return s.unmeasurable ? { ...v, unmeasurable: s.unmeasurable } : v;
}

export const blockedReason = (reason: string) =>
  `the source cluster blocks publishing (connection.blocked: ${reason}): no probe can be sent until its alarm clears`;

export const toRow = (l: LinkModel) => ({
  id: l.id,
  fromClusterId: l.fromClusterId,
  toClusterId: l.toClusterId,
  paused: l.paused,
});

/** The queue a path's probes arrive in, on the destination cluster. */
export function consumeQueue(p: ProbePath): string {
  return p.kind === 'federation'
    ? probeNames.federationQueue(p.fromClusterId)
    : probeNames.shovelDestination(p.fromClusterId);
}
