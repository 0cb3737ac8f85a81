/**
 * The link settings users choose (stored with federation links and shovels); the codecs turn
 * them into broker values, filling in crossdock's defaults (defaults.ts) for what is left out.
 */

/** A federation link's settings: the upstream's keys. */
export interface FederationSettings {
  prefetchCount?: number;
  ackMode?: 'on-confirm' | 'on-publish' | 'no-ack';
  maxHops?: number;
  expiresMs?: number;
  messageTtlMs?: number;
  reconnectDelaySeconds?: number;
  trustUserId?: boolean;
  /** Upstream key `queue-type` (RabbitMQ >= 3.13.1 only). */
  queueType?: 'classic' | 'quorum';
}

/** A shovel's settings: the shovel's keys. */
export interface ShovelSettings {
  ackMode?: 'on-confirm' | 'on-publish' | 'no-ack';
  prefetchCount?: number;
  reconnectDelaySeconds?: number;
  deleteAfter?: 'never' | 'queue-length' | number;
  addForwardHeaders?: boolean;
  addTimestampHeader?: boolean;
  /**
   * The shovel declares its destination queue when it is missing (classic, durable): crossdock
   * then grants the destination's link user configure on that queue name, and nothing more.
   * Without it a missing destination queue blocks the shovel until the queue exists.
   */
  declareDestination?: boolean;
}
