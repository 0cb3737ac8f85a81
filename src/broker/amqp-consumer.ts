import type { Channel, ConsumeMessage } from 'amqplib';
import type { MessageHandler } from './amqp-session.types';

/**
 * A queue `AmqpSession` consumes, on a channel of its own: a consume on a missing queue closes
 * only that channel.
 */
export interface Consumer {
  handler: MessageHandler;
  channel?: Channel;
  notBefore: number;
  exclusive?: boolean;
  noAck: boolean;
}

/** Runs the handler, then acks the message unless the consumer is ack-less. */
export function deliver(
  channel: Channel,
  handler: MessageHandler,
  noAck: boolean,
): (msg: ConsumeMessage | null) => void {
  return (msg) => {
    if (!msg) return;
    try {
      handler(msg);
    } finally {
      if (!noAck) {
        try {
          channel.ack(msg);
        } catch {
          // The channel went away; the broker redelivers to the next consumer.
        }
      }
    }
  };
}
