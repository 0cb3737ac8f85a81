import type { AmqpSession } from '../broker/amqp-session';
import type { Clock } from '../common/clock/clock';
import { blockedReason, consumeQueue, type PathState, type ProbeBody } from './path-state';
import { probeNames } from './probe-topology';

export interface SendDeps {
  /** The sessions of the path's source and destination clusters (none yet: unreachable). */
  src?: AmqpSession;
  dst?: AmqpSession;
  instanceId: string;
  clock: Pick<Clock, 'monotonic'>;
  /** A message arrived on the path's destination queue. */
  received: (content: Buffer, via: string) => void;
}

/**
 * One probe on one path: the destination consumes its probe queue (bound first for exchange
 * federation), then the source publishes a sequenced probe with a confirm. Says why when the
 * path cannot be measured (a cluster unreachable, blocked by an alarm, the queue not there).
 */
export async function sendPathProbe(s: PathState, d: SendDeps): Promise<void> {
  const p = s.path;
  const { src, dst } = d;
  if (!dst?.up) {
    s.unmeasurable = `crossdock cannot reach the destination cluster over AMQP${dst?.lastError ? `: ${dst.lastError}` : ''}`;
    return;
  }
  const queue = consumeQueue(p);
  // Exchange federation moves nothing without a downstream binding.
  if (p.kind === 'federation')
    await dst.bind(queue, probeNames.exchange(p.fromClusterId, p.toClusterId));
  // The probe exchange of a source is federated to each of its downstream clusters, so a
  // path's probe also arrives at the others: only the copy at this path's destination counts.
  dst.consume(queue, (msg) => d.received(msg.content, p.id), { noAck: true });
  await dst.ensure();
  if (!dst.consuming(queue)) {
    s.unmeasurable = `the probe queue at the destination is not consumable yet (not reconciled?)${dst.lastError ? `: ${dst.lastError}` : ''}`;
    return;
  }
  if (!src?.up) {
    s.unmeasurable = `crossdock cannot reach the source cluster over AMQP${src?.lastError ? `: ${src.lastError}` : ''}`;
    return;
  }
  if (src.blocked) {
    // Nothing published at the source gets in while the alarm lasts: not a lost probe.
    s.unmeasurable = blockedReason(src.blocked);
    return;
  }
  // From here the probe itself is pending: a confirm slowed by flow control is not a stuck task
  // (the probe may well have crossed already).
  s.busySince = undefined;
  const seq = ++s.seq;
  const body: ProbeBody = { i: d.instanceId, p: p.id, s: seq, t: d.clock.monotonic() };
  s.pending.set(seq, body.t);
  const [exchange, key] =
    p.kind === 'federation'
      ? [probeNames.exchange(p.fromClusterId, p.toClusterId), '']
      : ['', probeNames.shovelSource(p.toClusterId)];
  try {
    await src.publish(exchange, key, Buffer.from(JSON.stringify(body)), { persistent: false });
    s.unmeasurable = undefined;
  } catch (err) {
    // Not sent is not lost: crossdock could not hand the probe to the source cluster.
    s.pending.delete(seq);
    s.unmeasurable = src.blocked
      ? blockedReason(src.blocked)
      : `the source cluster did not confirm a probe: ${err instanceof Error ? err.message : 'failed'}`;
  }
}
