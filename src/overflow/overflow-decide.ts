/**
 * The overflow state machine, pure: inactive -> starting -> active -> draining -> inactive, plus
 * suspended while the remote side is unhealthy and failing while the spill shovel exists but
 * moves nothing. `active` means moving: a new spill is `starting` until it has moved a message.
 * Hysteresis: activate at the high watermark, stop at the low one, never before the minimum hold
 * time.
 */
export type OverflowState =
  'inactive' | 'starting' | 'active' | 'draining' | 'suspended' | 'failing';
export type OverflowAction = 'none' | 'activate' | 'rearm' | 'stop';

export interface DecideInput {
  enabled: boolean;
  state: OverflowState;
  /** When the current state began (ms, same clock as now). */
  since: number;
  now: number;
  /** Ready messages in the busy queue; null when it could not be read. */
  depth: number | null;
  /**
   * Where the depth will be at the next evaluation if it keeps growing as over the last one;
   * activation happens one interval early when that crosses the high watermark, so the depth
   * overshoots by the spill's start-up, not by a whole interval of excess inflow.
   */
  projectedDepth?: number | null;
  high: number;
  low: number;
  minHoldMs: number;
  /** The spill shovel exists on the broker. */
  shovelPresent: boolean;
  /** Why diverting is not allowed now (remote link unhealthy, remote target full), or null. */
  gateClosed: string | null;
  /**
   * The spill shovel consumes at a lower priority than local consumers, so it only gets what
   * they cannot take: it is idle (moved nothing for a while) exactly when local consumers keep
   * up again. Overflow stays on while it is not, even with the queue near empty; stopping an
   * idle shovel also leaves nothing in flight to arrive twice. null: not measurable.
   */
  spillIdle: boolean | null;
  /**
   * Why the present spill shovel moves nothing (the broker's status of it, or no acks while
   * messages wait), or null while it moves: `active` means moving, this makes it `failing`.
   */
  spillProblem?: string | null;
  /** The current batch has moved at least one message (confirmed remotely). */
  spillMoved?: boolean;
}

export interface Decision {
  state: OverflowState;
  action: OverflowAction;
  reason: string;
}

export function decide(i: DecideInput): Decision {
  const d = i.depth;
  if (!i.enabled) {
    return i.shovelPresent
      ? { state: 'draining', action: 'stop', reason: 'rule disabled: stopping the spill shovel' }
      : { state: 'inactive', action: 'none', reason: 'rule disabled' };
  }
  if (d === null) {
    // Cannot see the queue: change nothing (an active batch is bounded by its delete-after).
    return { state: i.state, action: 'none', reason: 'queue depth not readable' };
  }
  if (i.gateClosed) {
    if (i.shovelPresent)
      return {
        state: 'suspended',
        action: 'stop',
        reason: `overflow suspended (${i.gateClosed}); publishers see the queue grow, nothing is lost`,
      };
    const pressing = d >= i.high || (i.state === 'suspended' && d > i.low);
    return pressing
      ? {
          state: 'suspended',
          action: 'none',
          reason: `depth ${d} >= high ${i.high} but overflow is suspended (${i.gateClosed}); publishers see the queue grow, nothing is lost`,
        }
      : { state: 'inactive', action: 'none', reason: `depth ${d} below high ${i.high}` };
  }
  switch (i.state) {
    case 'inactive':
    case 'suspended': {
      if (d >= i.high)
        return {
          state: 'starting',
          action: 'activate',
          reason: `depth ${d} >= high ${i.high}: spill shovel starting`,
        };
      const p = i.projectedDepth ?? null;
      if (p !== null && p >= i.high && d > i.low)
        return {
          state: 'starting',
          action: 'activate',
          reason: `depth ${d} grows to ${Math.round(p)} >= high ${i.high} before the next evaluation`,
        };
      return { state: 'inactive', action: 'none', reason: `depth ${d} below high ${i.high}` };
    }
    case 'starting':
    case 'active':
    case 'failing': {
      const held = i.now - i.since >= i.minHoldMs;
      if (d <= i.low && held && i.spillIdle === true)
        return {
          state: 'draining',
          action: 'stop',
          reason: `depth ${d} <= low ${i.low} and the spill is idle (local consumers keep up): stopping it`,
        };
      if (d <= i.low && held && i.spillIdle === null)
        return {
          state: 'draining',
          action: i.shovelPresent ? 'none' : 'stop',
          reason: `depth ${d} <= low ${i.low} after the minimum hold: the spill shovel stops once the queue is empty`,
        };
      if (!i.shovelPresent)
        return { state: 'active', action: 'rearm', reason: `batch done, depth ${d}` };
      // Kept, not re-created: the broker restarts it, and it recovers by itself once the cause
      // (a missing remote queue, a refused permission) is gone.
      if (i.spillProblem)
        return {
          state: 'failing',
          action: 'none',
          reason: `the spill moves nothing: ${i.spillProblem}; depth ${d}`,
        };
      if (i.state !== 'active' && !i.spillMoved)
        return {
          state: i.state === 'failing' ? 'failing' : 'starting',
          action: 'none',
          reason:
            i.state === 'failing'
              ? `the spill has not moved a message yet since it failed; depth ${d}`
              : `spill shovel starting: nothing moved yet; depth ${d}`,
        };
      return {
        state: 'active',
        action: 'none',
        reason:
          d <= i.low
            ? `depth ${d} <= low ${i.low} but the spill is still taking what local consumers cannot`
            : `diverting: depth ${d}`,
      };
    }
    case 'draining': {
      if (d >= i.high)
        return {
          state: i.shovelPresent ? 'active' : 'starting',
          action: i.shovelPresent ? 'none' : 'activate',
          reason: `depth ${d} >= high ${i.high} again`,
        };
      if (!i.shovelPresent)
        return { state: 'inactive', action: 'none', reason: `drained: depth ${d}` };
      // Stopping a shovel with messages in flight requeues them after the remote site got them
      // (duplicates): stop on an empty queue, or after the drain timeout at the latest.
      if (d === 0)
        return {
          state: 'draining',
          action: 'stop',
          reason: 'queue empty: stopping the spill shovel',
        };
      if (i.now - i.since >= drainTimeoutMs)
        return {
          state: 'draining',
          action: 'stop',
          reason: `still ${d} messages after ${drainTimeoutMs} ms of draining: stopping (messages in flight may arrive twice)`,
        };
      return { state: 'draining', action: 'none', reason: `draining: depth ${d}` };
    }
  }
}

/** How long draining waits for an empty queue before it stops the spill shovel anyway. */
export const drainTimeoutMs = 60000;
