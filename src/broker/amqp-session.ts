import { connect, type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { redactString } from '../common/logging/redact';
import { deliver, type Consumer } from './amqp-consumer';
import {
  AmqpSessionError,
  type AmqpSessionOptions,
  type ConsumeOptions,
  type MessageHandler,
} from './amqp-session.types';
import { tlsConnectOptions } from './broker-tls';

/**
 * One AMQP connection to a cluster with a confirm channel for publishing and a channel for
 * consuming, rebuilt on demand after any failure. amqplib has no reconnect of its own and an
 * unhandled 'error' event kills the process, so every connection and channel gets listeners,
 * and callers simply call `ensure()` at their own cadence: reconnects are paced by a backoff
 * that doubles up to 5 s. Consumers registered with `consume` are re-established on reconnect.
 */
export class AmqpSession {
  private conn?: ChannelModel;
  private pub?: ConfirmChannel;
  private connecting?: Promise<boolean>;
  private readonly consumers = new Map<string, Consumer>();
  private next = 0;
  private backoffMs = 0;
  private notBefore = 0;
  private closed = false;
  /** Bumped on every new connection (exclusive queues die with the old one). */
  epoch = 0;
  lastError?: string;
  /** Why the broker blocks this connection right now (`connection.blocked`), if it does. */
  blocked?: string;

  constructor(private readonly opts: AmqpSessionOptions) {}

  get up(): boolean {
    return !!this.conn;
  }

  /** Is this queue being consumed right now? */
  consuming(queue: string): boolean {
    return this.up && !!this.consumers.get(queue)?.channel;
  }

  /** Connected (connecting if needed and the backoff allows); false when not reachable now. */
  ensure(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.up) return this.startConsumers().then(() => this.up);
    if (this.connecting) return this.connecting;
    if (Date.now() < this.notBefore) return Promise.resolve(false);
    this.connecting = this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<boolean> {
    const ep = this.opts.endpoints[this.next++ % this.opts.endpoints.length];
    let conn: ChannelModel | undefined;
    try {
      this.opts.networks?.checkLiteral(ep.host);
      conn = await connect(this.opts.uri(ep), {
        timeout: this.opts.connectTimeoutMs ?? 3000,
        ...(this.opts.tls ? tlsConnectOptions(this.opts.tls) : {}),
        ...(this.opts.networks?.restricted ? { lookup: this.opts.networks.lookup } : {}),
      });
      const c = conn;
      c.on('error', (err: Error) => this.lost(c, `connection error: ${err.message}`));
      c.on('close', () => this.lost(c, 'connection closed'));
      c.on('blocked', (reason: unknown) => {
        if (this.conn !== c) return;
        this.blocked = redactString(typeof reason === 'string' && reason ? reason : 'blocked');
        this.opts.onBlocked?.(this.blocked);
      });
      c.on('unblocked', () => {
        if (this.conn !== c || this.blocked === undefined) return;
        this.blocked = undefined;
        this.opts.onBlocked?.(undefined);
      });
      if (this.closed) {
        await c.close().catch(() => undefined);
        return false;
      }
      this.conn = c;
      this.epoch += 1;
      this.backoffMs = 0;
      this.lastError = undefined;
      await this.startConsumers();
      return this.up;
    } catch (err) {
      this.lastError = redactString(
        `connect to ${ep.host}:${ep.port}: ${err instanceof Error ? err.message : 'failed'}`,
      );
      this.backoff();
      await conn?.close().catch(() => undefined);
      return false;
    }
  }

  private backoff(): void {
    this.backoffMs = Math.min(5000, this.backoffMs ? this.backoffMs * 2 : 250);
    this.notBefore = Date.now() + this.backoffMs;
  }

  private lost(conn: ChannelModel, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.pub = undefined;
    const wasBlocked = this.blocked !== undefined;
    this.blocked = undefined;
    for (const [q, c] of this.consumers) {
      c.channel = undefined;
      if (c.exclusive) this.consumers.delete(q);
    }
    this.lastError = redactString(reason);
    this.backoff();
    conn.close().catch(() => undefined);
    this.opts.onDown?.(this.lastError);
    if (wasBlocked) this.opts.onBlocked?.(undefined);
  }

  /**
   * One channel per consumer: a consume on a missing queue closes its channel, and only that
   * one; it is retried (at most every 2 s) on later ensure() calls.
   */
  private async startConsumers(): Promise<void> {
    const conn = this.conn;
    if (!conn) return;
    for (const [queue, c] of this.consumers) {
      if (c.channel || c.exclusive || Date.now() < c.notBefore) continue;
      await this.startConsumer(conn, queue, c);
    }
  }

  private async startConsumer(conn: ChannelModel, queue: string, c: Consumer): Promise<void> {
    let ch: Channel | undefined;
    try {
      ch = await conn.createChannel();
      const channel = ch;
      channel.on('error', () => undefined);
      channel.on('close', () => {
        if (c.channel === channel) c.channel = undefined;
      });
      if (!c.noAck) await channel.prefetch(500);
      await channel.consume(queue, deliver(channel, c.handler, c.noAck), { noAck: c.noAck });
      c.channel = channel;
    } catch (err) {
      c.notBefore = Date.now() + 2000;
      this.lastError = redactString(
        `consume ${queue}: ${err instanceof Error ? err.message : 'failed'}`,
      );
      await ch?.close().catch(() => undefined);
    }
  }

  /**
   * Consume a queue (re-established after reconnects); messages are acked after the handler
   * unless `noAck`.
   */
  consume(queue: string, handler: MessageHandler, options: ConsumeOptions = {}): void {
    if (!this.consumers.has(queue))
      this.consumers.set(queue, { handler, notBefore: 0, noAck: options.noAck === true });
  }

  async cancel(queue: string): Promise<void> {
    const c = this.consumers.get(queue);
    this.consumers.delete(queue);
    await c?.channel?.close().catch(() => undefined);
  }

  /**
   * A server-named exclusive queue, consumed at once; it dies with the connection (check
   * `epoch` to know when a new one is needed).
   */
  async consumeExclusive(
    args: Record<string, unknown>,
    handler: MessageHandler,
    options: ConsumeOptions = {},
  ): Promise<string> {
    const conn = this.conn;
    if (!conn) throw new AmqpSessionError('not connected');
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, arguments: args });
    const noAck = options.noAck === true;
    const c: Consumer = { handler, notBefore: 0, exclusive: true, noAck };
    this.consumers.set(q.queue, c);
    ch.on('close', () => {
      if (c.channel === ch) c.channel = undefined;
    });
    await ch.consume(q.queue, deliver(ch, handler, noAck), { noAck });
    c.channel = ch;
    return q.queue;
  }

  /** The confirm channel, reopened after a channel error (e.g. a publish to a missing exchange). */
  private async publisher(): Promise<ConfirmChannel> {
    if (this.pub) return this.pub;
    const conn = this.conn;
    if (!conn) throw new AmqpSessionError('not connected');
    this.pubOpening ??= conn
      .createConfirmChannel()
      .then((pub) => {
        pub.on('error', () => undefined);
        pub.on('close', () => {
          if (this.pub === pub) this.pub = undefined;
        });
        if (this.conn === conn) this.pub = pub;
        return pub;
      })
      .finally(() => (this.pubOpening = undefined));
    return this.pubOpening;
  }

  private pubOpening?: Promise<ConfirmChannel>;

  /**
   * Ready messages in a queue, live (a passive declare: no statistics delay), on a throw-away
   * channel because a missing queue closes the channel it is asked on. Null when not readable.
   */
  async messageCount(queue: string): Promise<number | null> {
    const conn = this.conn;
    if (!conn) return null;
    let ch: Channel | undefined;
    try {
      ch = await conn.createChannel();
      ch.on('error', () => undefined);
      const ok = await ch.checkQueue(queue);
      return ok.messageCount;
    } catch (err) {
      this.lastError = redactString(
        `check ${queue}: ${err instanceof Error ? err.message : 'failed'}`,
      );
      return null;
    } finally {
      await ch?.close().catch(() => undefined);
    }
  }

  private readonly bound = new Map<string, number>();

  /** Binds queue to exchange once per connection, on a throw-away channel (a 404 closes it). */
  async bind(queue: string, exchange: string, routingKey = ''): Promise<boolean> {
    const conn = this.conn;
    const id = `${queue}\u0000${exchange}\u0000${routingKey}`;
    if (!conn) return false;
    if (this.bound.get(id) === this.epoch) return true;
    let ch: Channel | undefined;
    try {
      ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.bindQueue(queue, exchange, routingKey);
      this.bound.set(id, this.epoch);
      return true;
    } catch (err) {
      this.lastError = redactString(
        `bind ${queue}: ${err instanceof Error ? err.message : 'failed'}`,
      );
      return false;
    } finally {
      await ch?.close().catch(() => undefined);
    }
  }

  /** Publishes and waits for the broker's confirm (bounded by confirmTimeoutMs). */
  async publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: { persistent?: boolean; messageId?: string } = {},
  ): Promise<void> {
    const pub = await this.publisher();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new AmqpSessionError('publisher confirm timed out')),
        this.opts.confirmTimeoutMs ?? 5000,
      );
      try {
        pub.publish(exchange, routingKey, content, options, (err) => {
          clearTimeout(timer);
          if (err) reject(new AmqpSessionError('publish nacked by the broker'));
          else resolve();
        });
      } catch (err) {
        clearTimeout(timer);
        reject(new AmqpSessionError(err instanceof Error ? err.message : 'publish failed'));
      }
    });
  }

  /**
   * Closes the connection, waiting at most `waitMs` for the broker's close-ok: a broker that
   * does not answer (a silent network cut) must not hold the caller; its socket then goes with
   * the heartbeat. A blocked connection is closed at once by amqplib.
   */
  async close(waitMs = 2000): Promise<void> {
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    this.pub = undefined;
    this.blocked = undefined;
    this.consumers.clear();
    if (!conn) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      conn.close().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}
