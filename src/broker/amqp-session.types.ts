import type { ConsumeMessage } from 'amqplib';
import { redactString } from '../common/logging/redact';
import type { AllowedNetworks } from '../common/net/allowed-networks';
import type { BrokerTls } from './broker-tls';

export interface AmqpEndpoint {
  host: string;
  port: number;
}

export interface AmqpSessionOptions {
  /** Tried in turn (one per attempt), so a dead node never pins the session. */
  endpoints: AmqpEndpoint[];
  /**
   * The `amqp://` URI (credentials, vhost, heartbeat) of one endpoint: built by the one URI
   * builder (broker-topology/link-uri `sessionUri`), so TLS and parameters are taught once.
   */
  uri: (endpoint: AmqpEndpoint) => string;
  connectTimeoutMs?: number;
  /** Publisher confirms older than this fail the publish. */
  confirmTimeoutMs?: number;
  /** BROKER_ALLOWED_NETWORKS: no connection to an address outside it. */
  networks?: AllowedNetworks;
  /**
   * AMQPS with the cluster's CA bundle, server name and client certificate; the endpoints are
   * then the nodes' TLS listeners. Peer verification is always on.
   */
  tls?: BrokerTls;
  /** Told about every loss of the connection (already redacted). */
  onDown?: (reason: string) => void;
  /**
   * Told when the broker blocks this connection (`connection.blocked`, with its reason, e.g.
   * "low on memory") and when it lifts the block (undefined). A resource alarm anywhere in the
   * cluster blocks every connection that publishes: publishes and channel operations then wait
   * until the alarm clears, so a caller must not wait on them for other work.
   */
  onBlocked?: (reason: string | undefined) => void;
}

export type MessageHandler = (msg: ConsumeMessage) => void;

export interface ConsumeOptions {
  /**
   * The broker considers a message delivered once it is sent (no `basic.ack`): for messages
   * whose loss is itself what is measured (lag probes), not for data. Without acks the
   * prefetch limit does not apply either.
   */
  noAck?: boolean;
}

/** A typed failure of the session: never carries credentials. */
export class AmqpSessionError extends Error {
  constructor(message: string) {
    super(redactString(message));
    this.name = 'AmqpSessionError';
  }
}
