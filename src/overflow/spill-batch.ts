import type { OverflowBatch, OverflowRuleEntity } from './overflow-rule.entity';

/** Broker statistics are emitted every 5 s: an ack count unchanged this long means idle. */
export const idleAfterMs = 11000;

/** The spill's source channel and that channel's ack counter, as the broker last reported them. */
export interface SpillAcks {
  channel: string;
  ack: number;
}

/**
 * Pure: the batch after a read of the spill's acks, and whether it moved since the last read. A
 * restarted shovel acks on a new channel, counting from 0 again.
 */
export function advanceBatch(
  batch: OverflowBatch,
  read: SpillAcks,
  nowIso: string,
): { batch: OverflowBatch; progressed: boolean } {
  const base =
    read.channel === batch.channel
      ? (batch.channelAcked ?? 0)
      : batch.channel === undefined
        ? batch.acked
        : 0;
  const delta = Math.max(0, read.ack - base);
  const progressed = delta > 0;
  return {
    progressed,
    batch: {
      ...batch,
      channel: read.channel,
      channelAcked: read.ack,
      ...(progressed ? { acked: batch.acked + delta, ackedChangedAt: nowIso } : {}),
    },
  };
}

/**
 * Pure: whether the spill is idle (moved nothing for a while), from its acks; null when not
 * measurable. Statistics are emitted every 5 s: unchanged over two emissions means idle. A new
 * spill's consumer shows in the statistics only after an emission or two: until then it counts
 * as busy, not as unknown.
 */
export function spillIdle(
  batch: OverflowBatch | null,
  acked: number | null,
  now: number,
): boolean | null {
  const young = batch !== null && now - Date.parse(batch.startedAt) < 3 * idleAfterMs;
  return batch && acked !== null
    ? now - Date.parse(batch.ackedChangedAt) >= idleAfterMs
    : young
      ? false
      : null;
}

/** Pure: the depth at the next evaluation if it keeps growing at the rate of the last interval. */
export function projectedDepth(
  rule: Pick<OverflowRuleEntity, 'lastDepth' | 'lastEvaluatedAt'>,
  depth: number | null,
  now: number,
  intervalMs: number,
): number | null {
  if (depth === null || rule.lastDepth === null || !rule.lastEvaluatedAt) return null;
  const elapsed = now - rule.lastEvaluatedAt.getTime();
  if (elapsed <= 0 || elapsed > 3 * intervalMs) return null;
  const growth = ((depth - rule.lastDepth) / elapsed) * intervalMs;
  return growth > 0 ? depth + growth : depth;
}
