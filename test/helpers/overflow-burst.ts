import type { ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { eventually } from './eventually';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface BurstOptions {
  /** Connection to the busy queue's site (publisher, slow local consumer, depth reads). */
  local: ChannelModel;
  /** Connection to the remote site (consumer of the spill queue). */
  remote: ChannelModel;
  queue: string;
  remoteQueue: string;
  total: number;
  /** Publish rate, messages per second. */
  rate: number;
  /** The local consumer acks at most this many messages per second. */
  localRate: number;
  /** Runs beside the burst with the number of confirmed publishes so far. */
  during?: (confirmed: () => number) => Promise<void>;
  /** How long to wait for every id to be consumed after the last publish. */
  drainTimeoutMs?: number;
}

export interface BurstResult {
  published: number;
  nacks: number;
  duplicates: number;
  missing: number;
  local: number;
  remote: number;
  maxDepth: number;
  publishRate: number;
  localRate: number;
  /** `ms:depth:remote` every 250 ms, for the failure message. */
  timeline: string;
}

/**
 * Publishes `total` persistent messages with unique ids and confirms at `rate`/s (retrying
 * anything nacked), consumes locally at `localRate`/s and remotely as fast as possible, until
 * every id is seen at one of the two sites; counts duplicates, nacks and the local peak depth.
 */
export async function overflowBurst(o: BurstOptions): Promise<BurstResult> {
  const seen = new Map<string, number>();
  let local = 0;
  let remote = 0;
  const mark = (id: string) => seen.set(id, (seen.get(id) ?? 0) + 1);
  const lch = await o.local.createChannel();
  await lch.prefetch(50);
  const pending: { ack: () => void }[] = [];
  await lch.consume(o.queue, (msg) => {
    if (!msg) return;
    mark(String(msg.properties.messageId));
    local += 1;
    pending.push({ ack: () => lch.ack(msg) });
  });
  // The local consumer is slower than the inflow: it acks at most localRate per second.
  const perTick = Math.max(1, Math.round(o.localRate / 100));
  const acker = setInterval(() => {
    for (const p of pending.splice(0, perTick)) p.ack();
  }, 10);
  const rch = await o.remote.createChannel();
  await rch.prefetch(500);
  await rch.consume(o.remoteQueue, (msg) => {
    if (!msg) return;
    mark(String(msg.properties.messageId));
    remote += 1;
    rch.ack(msg);
  });
  let maxDepth = 0;
  const dch = await o.local.createChannel();
  const t0 = Date.now();
  const timeline: string[] = [];
  const depthTimer = setInterval(() => {
    void dch
      .checkQueue(o.queue)
      .then((q) => {
        maxDepth = Math.max(maxDepth, q.messageCount);
        timeline.push(`${Date.now() - t0}:${q.messageCount}:${remote}`);
      })
      .catch(() => undefined);
  }, 250);

  const pub = await o.local.createConfirmChannel();
  let nacks = 0;
  let confirmed = 0;
  const prefix = randomBytes(4).toString('hex');
  const started = Date.now();
  const publishOne = (id: string): Promise<void> =>
    new Promise((resolve) => {
      pub.publish('', o.queue, Buffer.from(id), { persistent: true, messageId: id }, (err) => {
        if (err) {
          nacks += 1;
          resolve(publishOne(id)); // retry: a nacked message was not taken
        } else {
          confirmed += 1;
          resolve();
        }
      });
    });
  const inflight: Promise<void>[] = [];
  const duringDone = o.during?.(() => confirmed);
  try {
    for (let i = 0; i < o.total; i++) {
      inflight.push(publishOne(`${prefix}-${i}`));
      const due = started + ((i + 1) * 1000) / o.rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (inflight.length >= 2000) await Promise.all(inflight.splice(0, 1000));
    }
    await Promise.all(inflight);
    const publishRate = o.total / ((Date.now() - started) / 1000);
    await duringDone;
    await eventually(() => seen.size === o.total, {
      timeoutMs: o.drainTimeoutMs ?? 180000,
      intervalMs: 500,
      description: `all ${o.total} ids consumed`,
    });
    let duplicates = 0;
    for (const n of seen.values()) duplicates += n - 1;
    return {
      published: confirmed,
      nacks,
      duplicates,
      missing: o.total - seen.size,
      local,
      remote,
      maxDepth,
      publishRate,
      localRate: o.localRate,
      timeline: timeline.join(' '),
    };
  } finally {
    clearInterval(acker);
    clearInterval(depthTimer);
    for (const p of pending.splice(0)) p.ack();
    await Promise.all(
      [lch.close(), rch.close(), dch.close(), pub.close()].map((p) => p.catch(() => undefined)),
    );
  }
}
