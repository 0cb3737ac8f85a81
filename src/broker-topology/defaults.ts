/**
 * crossdock's values for the link settings a user may leave out, written explicitly into every
 * upstream and shovel it creates. They match RabbitMQ 3.10's code defaults except where a comment
 * says otherwise, and are stated here so the broker's docs/code disagreements (the docs say
 * reconnect-delay 1, the code uses 5) never decide what runs.
 */
export const linkDefaults = {
  ackMode: 'on-confirm',
  prefetchCount: 1000,
  reconnectDelaySeconds: 5,
  trustUserId: false,
  /** Exchange federation only: a message crosses one link. */
  maxHops: 1,
  deleteAfter: 'never',
  addForwardHeaders: false,
  addTimestampHeader: false,
} as const;

/**
 * Query parameters of every URI a link uses to reach another cluster: a dead peer is noticed
 * within seconds (heartbeat) and a connection attempt never hangs on a black-holed address.
 * Their order is part of the URI text the broker stores: changing it rewrites (and restarts)
 * every link once.
 */
export const linkUriParams = { heartbeat: 10, connection_timeout: 10000 } as const;

/** Heartbeat of crossdock's own AMQP sessions (probes, overflow depth reads). */
export const sessionHeartbeatSeconds = 5;

/**
 * The overflow spill shovel's settings (the probe of its path travels with the same ones):
 * on-confirm, so a message in flight when the spill stops is requeued, not lost; the rule's own
 * small prefetch; a fast reconnect, as a spill matters only while the queue is busy.
 */
export const spillShovelSettings = (prefetch: number) =>
  ({ ackMode: 'on-confirm', prefetchCount: prefetch, reconnectDelaySeconds: 1 }) as const;

/** The key of an upstream's or shovel's prefetch (`prefetch-count` / `src-prefetch-count`). */
export const prefetchKey = (kind: 'federation-upstream' | 'shovel') =>
  kind === 'shovel' ? 'src-prefetch-count' : 'prefetch-count';
