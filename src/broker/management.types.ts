import type { AllowedNetworks } from '../common/net/allowed-networks';
import type { BrokerTls } from './broker-tls';
/** Types of the narrow RabbitMQ management HTTP API client (3.10 payloads, subset we read). */

export type ManagementScheme = 'http' | 'https';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** One node's management listener. `name` is the Erlang node name, e.g. `rabbit@dc1-a`. */
export interface ManagementNodeEndpoint {
  name: string;
  host: string;
  managementPort: number;
}

export interface ManagementClientOptions {
  nodes: ManagementNodeEndpoint[];
  scheme: ManagementScheme;
  username: string;
  password: string;
  /** Per node attempt, covering connect, headers and body. */
  timeoutMs: number;
  /** Caps every answer (on top of the per-kind limits): larger ones are a BrokerProtocolError. */
  maxResponseBytes?: number;
  /** Per-kind limits (default 2 MiB for one object or a write's answer, 16 MiB for a listing). */
  responseLimits?: Partial<Record<'object' | 'listing', number>>;
  /**
   * Awaited right before every attempt of a write (anything but GET) on every node, failover
   * included; a throw stops the request unsent. The reconciler checks its cluster lock's lease
   * here, so a process resumed after a freeze does not write on a stale lock.
   */
  writeGuard?: () => Promise<void> | void;
  /** BROKER_ALLOWED_NETWORKS: every connection's resolved address is checked against it. */
  networks?: AllowedNetworks;
  /**
   * The cluster's TLS material: https is verified against its CA bundle (and server name) rather
   * than the system store, with the client certificate when one is set. A client given TLS
   * material refuses to run over http: credentials never go in clear to a TLS cluster.
   */
  tls?: BrokerTls;
}

/** What went wrong on one attempt; `ok` attempts have no kind. */
export type BrokerErrorKind =
  'unreachable' | 'timeout' | 'auth' | 'not-found' | 'rejected' | 'server' | 'protocol';

/** One try of one node, so callers can report per-node reachability. */
export interface NodeAttempt {
  node: string;
  ok: boolean;
  /** HTTP status when the node answered at all. */
  status?: number;
  errorKind?: BrokerErrorKind;
  /** Short, redacted description of the failure. */
  error?: string;
  latencyMs: number;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** Overrides the client's per-attempt timeout. */
  timeoutMs?: number;
  /**
   * Lets a 4xx/5xx answer count as a successful response (e.g. 503 from a health check that
   * carries the failed check's details). Called with the parsed body, or undefined if it had none
   * or was not JSON.
   */
  acceptStatus?: (status: number, body: unknown) => boolean;
}

export interface ManagementResponse<T> {
  method: HttpMethod;
  /** As requested, without the query string added from options. */
  path: string;
  status: number;
  body: T;
  /** Name of the node that answered. */
  node: string;
  latencyMs: number;
  /** Every attempt of this request, failed ones first, the answering one last. */
  attempts: NodeAttempt[];
}

/** GET /api/overview, the fields we read. */
export interface ManagementOverview {
  node?: string;
  cluster_name?: string;
  rabbitmq_version?: string;
  erlang_version?: string;
  management_version?: string;
  product_name?: string;
  product_version?: string;
  [key: string]: unknown;
}

/**
 * One element of GET /api/nodes. A stopped member is listed with `name`, `type`, `running: false`
 * and `cluster_links` only: every other field is absent (measured on 3.10.8).
 */
export interface ManagementNode {
  name: string;
  type?: string;
  running?: boolean;
  partitions?: string[];
  mem_alarm?: boolean;
  disk_free_alarm?: boolean;
  /** From the node's enabled-plugins file, so it lists plugins whether or not they started. */
  enabled_plugins?: string[];
  [key: string]: unknown;
}

export interface ManagementAlarm {
  node: string;
  /** `memory` or `disk space` on 3.10. */
  resource: string;
}

/** GET /api/health/checks/alarms: 200 `{status: ok}` or 503 with the alarms in effect. */
export interface HealthAlarms {
  ok: boolean;
  alarms: ManagementAlarm[];
}
