import type { ShovelStatus } from '../broker-topology/broker-facts';
import type { OverflowBatch } from './overflow-rule.entity';

/**
 * Pure: whether a present spill shovel actually moves messages, and if not, why. "running" is
 * not "moving": a spill whose destination queue is missing is restarted by the broker over and
 * over (terminated, starting, running for an instant) and acks nothing. The verdict combines the
 * broker's status of the shovel with the spill's own progress (acks at the source).
 */
export interface SpillHealthInput {
  now: number;
  batch: OverflowBatch;
  /** The broker's status of the shovel; undefined: not listed; null: the list was unreadable. */
  status: ShovelStatus | undefined | null;
  /** The spill acked messages since the last evaluation. */
  progressed: boolean;
  /** Ready messages in the watched queue (null: not readable). */
  depth: number | null;
  low: number;
  /** How long a new shovel may take to start (and show in the status list) before it counts. */
  startGraceMs: number;
  /** No ack for this long, with messages above the low watermark waiting: not moving. */
  stallMs: number;
}

export interface SpillHealth {
  /** Why the spill is not moving, or null while it moves (or may: still starting). */
  problem: string | null;
  /** A broker-reported failure to remember until the spill moves again. */
  failure: OverflowBatch['failure'];
}

export function spillHealth(i: SpillHealthInput): SpillHealth {
  if (i.progressed) return { problem: null, failure: undefined };
  const s = i.status;
  const age = i.now - Date.parse(i.batch.startedAt);
  const quietMs = i.now - Date.parse(i.batch.ackedChangedAt);
  if (s && s.state === 'terminated') {
    const failure = {
      reason: `spill shovel terminated${s.node ? ` on ${s.node}` : ''}${s.reason ? `: ${s.reason}` : ''}`,
      since: i.batch.failure?.since ?? new Date(i.now).toISOString(),
    };
    return { problem: failure.reason, failure };
  }
  // A crash-looping shovel is `running` for an instant between restarts: what the broker
  // reported stays the reason until the spill moves a message again.
  if (i.batch.failure)
    return {
      problem: `${i.batch.failure.reason} (last seen; nothing moved since ${i.batch.failure.since})`,
      failure: i.batch.failure,
    };
  if (age < i.startGraceMs) return { problem: null, failure: undefined };
  if (s === undefined)
    return {
      problem: 'spill shovel not running: the broker lists no status for it',
      failure: undefined,
    };
  if (s && s.state !== 'running')
    return {
      problem: `spill shovel ${s.state} for ${Math.round(age / 1000)} s${s.reason ? `: ${s.reason}` : ''}`,
      failure: undefined,
    };
  if (i.depth !== null && i.depth > i.low && quietMs >= i.stallMs)
    return {
      problem: `spill shovel moved nothing for ${Math.round(quietMs / 1000)} s while the queue holds ${i.depth}`,
      failure: undefined,
    };
  return { problem: null, failure: undefined };
}
