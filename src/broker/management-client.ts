import type { AllowedNetworks } from '../common/net/allowed-networks';
import { PlaintextRefusedError, type BrokerTls } from './broker-tls';
import {
  BrokerAuthError,
  BrokerError,
  BrokerNotFoundError,
  BrokerProtocolError,
  BrokerRejectedError,
  BrokerServerError,
  BrokerTimeoutError,
  BrokerUnreachableError,
} from './management.errors';
import { defaultResponseLimits, responseKind, type ResponseKind } from './management.paths';
import { expectShape, isAlarm, isObject } from './management.shapes';
import { attemptNode, type AttemptOutcome } from './management.transport';
import type {
  HealthAlarms,
  HttpMethod,
  ManagementAlarm,
  ManagementClientOptions,
  ManagementNode,
  ManagementNodeEndpoint,
  ManagementOverview,
  ManagementResponse,
  NodeAttempt,
  RequestOptions,
} from './management.types';

/** Columns of GET /api/nodes that observation needs; the full payload is ~10 KB per node. */
export const nodeColumns = [
  'name',
  'type',
  'running',
  'partitions',
  'mem_alarm',
  'disk_free_alarm',
  'enabled_plugins',
] as const;

/**
 * Narrow RabbitMQ management HTTP API client: basic auth, JSON, per-attempt timeouts, bounded
 * bodies and node failover. Requests start at the node that answered last and move on to the
 * next node on connection errors, timeouts and 5xx, never on 4xx (those are answers). PUT and
 * DELETE are idempotent on the management API, so retrying them on another node is safe; a POST
 * of definitions merges and is safe to repeat too.
 */
export class ManagementClient {
  readonly #authorization: string;
  readonly #secrets: string[];
  readonly #nodes: readonly ManagementNodeEndpoint[];
  readonly #scheme: string;
  readonly #timeoutMs: number;
  readonly #limits: Record<ResponseKind, number>;
  readonly #writeGuard?: () => Promise<void> | void;
  readonly #networks?: AllowedNetworks;
  readonly #tls?: BrokerTls;
  #preferred = 0;

  constructor(options: ManagementClientOptions) {
    if (options.nodes.length === 0) {
      throw new RangeError('ManagementClient needs at least one node');
    }
    const names = new Set(options.nodes.map((n) => n.name));
    if (names.size !== options.nodes.length) {
      throw new RangeError('ManagementClient node names must be unique');
    }
    if (!(options.timeoutMs > 0)) throw new RangeError('ManagementClient timeoutMs must be > 0');
    if (options.tls && options.scheme !== 'https') throw new PlaintextRefusedError('http');
    this.#tls = options.tls;
    this.#nodes = options.nodes.map((n) => ({ ...n }));
    this.#scheme = options.scheme;
    this.#timeoutMs = options.timeoutMs;
    // `maxResponseBytes` caps every kind (tests and callers that know better).
    const cap = options.maxResponseBytes ?? Infinity;
    this.#limits = {
      object: Math.min(options.responseLimits?.object ?? defaultResponseLimits.object, cap),
      listing: Math.min(options.responseLimits?.listing ?? defaultResponseLimits.listing, cap),
    };
    this.#writeGuard = options.writeGuard;
    this.#networks = options.networks;
    this.#authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
    this.#secrets = [options.password];
  }

  get nodeNames(): string[] {
    return this.#nodes.map((n) => n.name);
  }

  /** The node the next request starts with: the last one that answered. */
  get preferredNode(): string {
    return this.#nodes[this.#preferred].name;
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  async request<T = unknown>(
    method: HttpMethod,
    path: string,
    body?: unknown,
    opts?: RequestOptions,
  ): Promise<T> {
    return (await this.send<T>(method, path, body, opts)).body;
  }

  /** Like `request`, with the answering node, status and every attempt. */
  async send<T = unknown>(
    method: HttpMethod,
    path: string,
    body?: unknown,
    opts: RequestOptions = {},
  ): Promise<ManagementResponse<T>> {
    const order = this.#nodes.map((_, i) => (this.#preferred + i) % this.#nodes.length);
    return this.#run<T>(order, method, path, body, opts);
  }

  /** Asks one specific node, without failover. */
  async requestNode<T = unknown>(
    nodeName: string,
    method: HttpMethod,
    path: string,
    body?: unknown,
    opts?: RequestOptions,
  ): Promise<T> {
    return (await this.sendNode<T>(nodeName, method, path, body, opts)).body;
  }

  async sendNode<T = unknown>(
    nodeName: string,
    method: HttpMethod,
    path: string,
    body?: unknown,
    opts: RequestOptions = {},
  ): Promise<ManagementResponse<T>> {
    const index = this.#nodes.findIndex((n) => n.name === nodeName);
    if (index < 0) throw new RangeError(`node ${nodeName} is not configured in this client`);
    return this.#run<T>([index], method, path, body, opts);
  }

  get<T = unknown>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, undefined, opts);
  }

  put<T = unknown>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, body, opts);
  }

  post<T = unknown>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, body, opts);
  }

  delete<T = unknown>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, undefined, opts);
  }

  async overview(): Promise<ManagementResponse<ManagementOverview>> {
    const res = await this.send('GET', '/api/overview');
    return this.#expect(res, (b): b is ManagementOverview => isObject(b), 'an object');
  }

  /** GET /api/nodes restricted to `columns` (pass `null` for everything). */
  async nodes(
    columns: readonly string[] | null = nodeColumns,
  ): Promise<ManagementResponse<ManagementNode[]>> {
    const query = columns ? { columns: columns.join(',') } : undefined;
    const res = await this.send('GET', '/api/nodes', undefined, { query });
    return this.#expect(
      res,
      (b): b is ManagementNode[] =>
        Array.isArray(b) && b.every((n: unknown) => isObject(n) && typeof n.name === 'string'),
      'an array of named nodes',
    );
  }

  async clusterName(): Promise<ManagementResponse<string>> {
    const res = await this.send('GET', '/api/cluster-name');
    const checked = this.#expect(
      res,
      (b): b is { name: string } => isObject(b) && typeof b.name === 'string',
      '{"name": string}',
    );
    return { ...checked, body: checked.body.name };
  }

  /** Cluster-wide resource alarms: 200 `{"status": "ok"}` means none, 503 lists them. */
  async healthAlarms(): Promise<ManagementResponse<HealthAlarms>> {
    const res = await this.send('GET', '/api/health/checks/alarms', undefined, {
      acceptStatus: (status, body) =>
        status === 503 && isObject(body) && Array.isArray(body.alarms),
    });
    const checked = this.#expect(
      res,
      (b): b is { alarms?: ManagementAlarm[] } =>
        isObject(b) &&
        (b.alarms === undefined
          ? res.status === 200 && b.status === 'ok'
          : Array.isArray(b.alarms) && b.alarms.every(isAlarm)),
      '{"status": "ok"} or a list of alarms',
    );
    const alarms = checked.body.alarms ?? [];
    return { ...checked, body: { ok: res.status === 200 && alarms.length === 0, alarms } };
  }

  /**
   * Which node really serves `nodeName`'s management listener (a cheap overview with statistics
   * disabled). Used to check each node's own listener and catch endpoints declared crosswise.
   */
  async nodeIdentity(nodeName: string, timeoutMs?: number): Promise<ManagementResponse<string>> {
    const res = await this.sendNode(nodeName, 'GET', '/api/overview', undefined, {
      query: { disable_stats: true, columns: 'node' },
      timeoutMs,
    });
    const checked = this.#expect(
      res,
      (b): b is { node: string } => isObject(b) && typeof b.node === 'string',
      '{"node": string}',
    );
    return { ...checked, body: checked.body.node };
  }

  /** A typed helper's answer must have the expected shape, or it is a protocol error. */
  #expect<T>(
    res: ManagementResponse<unknown>,
    guard: (body: unknown) => body is T,
    expected: string,
  ): ManagementResponse<T> {
    return expectShape(res, guard, expected);
  }

  async #run<T>(
    order: number[],
    method: HttpMethod,
    path: string,
    body: unknown,
    opts: RequestOptions,
  ): Promise<ManagementResponse<T>> {
    if (!path.startsWith('/api/')) throw new RangeError('management API paths start with /api/');
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const attempts: NodeAttempt[] = [];
    let lastServer: { node: string; status: number; reason: string } | undefined;
    for (const index of order) {
      const node = this.#nodes[index];
      if (method !== 'GET') await this.#writeGuard?.();
      const { attempt, outcome } = await attemptNode({
        node,
        scheme: this.#scheme,
        authorization: this.#authorization,
        secrets: this.#secrets,
        method,
        path,
        body,
        opts,
        timeoutMs,
        maxResponseBytes: this.#limits[responseKind(method, path)],
        networks: this.#networks,
        tls: this.#tls,
      });
      attempts.push(attempt);
      if (outcome.type === 'ok') {
        this.#preferred = index;
        return {
          method,
          path,
          status: outcome.status,
          body: outcome.body as T,
          node: node.name,
          latencyMs: attempt.latencyMs,
          attempts,
        };
      }
      const { kind, status, reason } = outcome;
      if (kind === 'server') {
        lastServer = { node: node.name, status: status ?? 500, reason };
        continue;
      }
      if (kind === 'unreachable' || kind === 'timeout') continue;
      // The node answered: it is the one to start with next time, and the answer stands.
      this.#preferred = index;
      throw answeredError(method, path, node.name, outcome, attempts);
    }
    if (lastServer) {
      const { node, status, reason } = lastServer;
      throw new BrokerServerError(method, path, node, status, reason, attempts);
    }
    if (attempts.every((a) => a.errorKind === 'timeout')) {
      throw new BrokerTimeoutError(method, path, attempts, timeoutMs);
    }
    throw new BrokerUnreachableError(method, path, attempts);
  }
}

/** The error a node's answer stands for: it answered, so no other node is asked. */
function answeredError(
  method: HttpMethod,
  path: string,
  node: string,
  outcome: Extract<AttemptOutcome, { type: 'failed' }>,
  attempts: NodeAttempt[],
): BrokerError {
  const status = outcome.status ?? 0;
  switch (outcome.kind) {
    case 'auth':
      return new BrokerAuthError(method, path, node, status, attempts);
    case 'not-found':
      return new BrokerNotFoundError(method, path, node, attempts);
    case 'rejected':
      return new BrokerRejectedError(method, path, node, status, outcome.reason, attempts);
    default:
      return new BrokerProtocolError(
        method,
        path,
        node,
        outcome.problem ?? 'unexpected-status',
        outcome.detail,
        attempts,
        outcome.status,
      );
  }
}
