import {
  BrokerAuthError,
  BrokerError,
  BrokerNotFoundError,
  BrokerProtocolError,
  BrokerRejectedError,
  BrokerServerError,
  BrokerTimeoutError,
  BrokerUnreachableError,
  redactBrokerText,
  type BrokerProtocolProblem,
} from './management.errors';
import type {
  BrokerErrorKind,
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

export const defaultMaxResponseBytes = 64 * 1024 * 1024;

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
 * Encodes one path segment (vhost, object name). `/` becomes `%2F`. `.` and `..` cannot be
 * addressed at all: WHATWG URL parsing (fetch) collapses them, encoded or not, into a parent path.
 */
export function encodeSegment(value: string | number): string {
  const s = String(value);
  if (s === '' || s === '.' || s === '..') {
    throw new RangeError(`cannot address ${JSON.stringify(s)} in a management API path`);
  }
  return encodeURIComponent(s);
}

/** Tagged template for API paths: every interpolated value is one encoded segment. */
export function apiPath(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  return strings.reduce(
    (acc, part, i) => acc + part + (i < values.length ? encodeSegment(values[i]) : ''),
    '',
  );
}

type Outcome =
  | { type: 'ok'; status: number; body: unknown }
  | {
      type: 'failover';
      kind: 'unreachable' | 'timeout' | 'server';
      status?: number;
      reason: string;
    }
  | { type: 'fatal'; make: (attempts: NodeAttempt[]) => BrokerError };

interface AttemptResult {
  attempt: NodeAttempt;
  outcome: Outcome;
}

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
  readonly #maxResponseBytes: number;
  #preferred = 0;

  constructor(options: ManagementClientOptions) {
    if (options.nodes.length === 0)
      throw new RangeError('ManagementClient needs at least one node');
    const names = new Set(options.nodes.map((n) => n.name));
    if (names.size !== options.nodes.length) {
      throw new RangeError('ManagementClient node names must be unique');
    }
    if (!(options.timeoutMs > 0)) throw new RangeError('ManagementClient timeoutMs must be > 0');
    this.#nodes = options.nodes.map((n) => ({ ...n }));
    this.#scheme = options.scheme;
    this.#timeoutMs = options.timeoutMs;
    this.#maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes;
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
    const res = await this.send<unknown>('GET', '/api/overview');
    return this.#expect(
      res,
      isObject(res.body),
      'GET',
      '/api/overview',
      'an object',
    ) as ManagementResponse<ManagementOverview>;
  }

  /** GET /api/nodes restricted to `columns` (pass `null` for everything). */
  async nodes(
    columns: readonly string[] | null = nodeColumns,
  ): Promise<ManagementResponse<ManagementNode[]>> {
    const query = columns ? { columns: columns.join(',') } : undefined;
    const res = await this.send<unknown>('GET', '/api/nodes', undefined, { query });
    const ok =
      Array.isArray(res.body) &&
      res.body.every((n: unknown) => isObject(n) && typeof n.name === 'string');
    return this.#expect(
      res,
      ok,
      'GET',
      '/api/nodes',
      'an array of named nodes',
    ) as ManagementResponse<ManagementNode[]>;
  }

  async clusterName(): Promise<ManagementResponse<string>> {
    const res = await this.send<unknown>('GET', '/api/cluster-name');
    const name = isObject(res.body) ? res.body.name : undefined;
    this.#expect(res, typeof name === 'string', 'GET', '/api/cluster-name', '{"name": string}');
    return { ...res, body: name as string };
  }

  /** Cluster-wide resource alarms: 200 means none, 503 lists them. */
  async healthAlarms(): Promise<ManagementResponse<HealthAlarms>> {
    const path = '/api/health/checks/alarms';
    const res = await this.send<unknown>('GET', path, undefined, {
      acceptStatus: (status, body) =>
        status === 503 && isObject(body) && Array.isArray(body.alarms),
    });
    const body = res.body;
    const alarmsRaw =
      isObject(body) && Array.isArray(body.alarms) ? body.alarms : res.status === 200 ? [] : null;
    const alarms = alarmsRaw?.filter(
      (a: unknown): a is ManagementAlarm =>
        isObject(a) && typeof a.node === 'string' && typeof a.resource === 'string',
    );
    const ok = alarms !== undefined && alarms.length === (alarmsRaw?.length ?? -1);
    this.#expect(res, ok, 'GET', path, '{"status": "ok"} or a list of alarms');
    return { ...res, body: { ok: res.status === 200, alarms: alarms ?? [] } };
  }

  /**
   * Which node really serves `nodeName`'s management listener (a cheap overview with statistics
   * disabled). Used to check each node's own listener and catch endpoints declared crosswise.
   */
  async nodeIdentity(nodeName: string, timeoutMs?: number): Promise<ManagementResponse<string>> {
    const path = '/api/overview';
    const res = await this.sendNode<unknown>(nodeName, 'GET', path, undefined, {
      query: { disable_stats: true, columns: 'node' },
      timeoutMs,
    });
    const node = isObject(res.body) ? res.body.node : undefined;
    this.#expect(res, typeof node === 'string', 'GET', path, '{"node": string}');
    return { ...res, body: node as string };
  }

  #expect<T>(
    res: ManagementResponse<T>,
    ok: boolean,
    method: HttpMethod,
    path: string,
    expected: string,
  ): ManagementResponse<T> {
    if (ok) return res;
    throw new BrokerProtocolError(
      method,
      path,
      res.node,
      'wrong-shape',
      `expected ${expected}`,
      res.attempts,
      res.status,
    );
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
    const failures: Extract<Outcome, { type: 'failover' }>[] = [];
    for (const index of order) {
      const node = this.#nodes[index];
      const { attempt, outcome } = await this.#attempt(node, method, path, body, opts, timeoutMs);
      attempts.push(attempt);
      if (outcome.type === 'ok') {
        this.#preferred = index;
        return {
          status: outcome.status,
          body: outcome.body as T,
          node: node.name,
          latencyMs: attempt.latencyMs,
          attempts,
        };
      }
      if (outcome.type === 'fatal') {
        if (attempt.status !== undefined && attempt.status < 500) this.#preferred = index;
        throw outcome.make(attempts);
      }
      failures.push(outcome);
    }
    const lastServer = [...attempts].reverse().find((a) => a.errorKind === 'server');
    if (lastServer) {
      const reason = failures.filter((f) => f.kind === 'server').at(-1)?.reason ?? '';
      throw new BrokerServerError(
        method,
        path,
        lastServer.node,
        lastServer.status ?? 500,
        reason,
        attempts,
      );
    }
    if (failures.every((f) => f.kind === 'timeout')) {
      throw new BrokerTimeoutError(method, path, attempts, timeoutMs);
    }
    throw new BrokerUnreachableError(method, path, attempts);
  }

  async #attempt(
    node: ManagementNodeEndpoint,
    method: HttpMethod,
    path: string,
    body: unknown,
    opts: RequestOptions,
    timeoutMs: number,
  ): Promise<AttemptResult> {
    const started = performance.now();
    const signal = AbortSignal.timeout(timeoutMs);
    const finish = (
      ok: boolean,
      outcome: Outcome,
      extra: { status?: number; errorKind?: BrokerErrorKind; error?: string } = {},
    ): AttemptResult => ({
      attempt: {
        node: node.name,
        ok,
        ...extra,
        latencyMs: Math.round((performance.now() - started) * 10) / 10,
      },
      outcome,
    });
    const fatal = (
      kind: BrokerErrorKind,
      status: number | undefined,
      error: string,
      make: (a: NodeAttempt[]) => BrokerError,
    ) => finish(false, { type: 'fatal', make }, { status, errorKind: kind, error });
    const protocol = (problem: BrokerProtocolProblem, detail: string, status?: number) =>
      fatal(
        'protocol',
        status,
        detail,
        (a) => new BrokerProtocolError(method, path, node.name, problem, detail, a, status),
      );

    let res: Response;
    try {
      res = await fetch(this.#url(node, path, opts), {
        method,
        headers: {
          authorization: this.#authorization,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'manual',
        signal,
      });
    } catch (err) {
      if (signal.aborted) {
        return finish(
          false,
          { type: 'failover', kind: 'timeout', reason: '' },
          {
            errorKind: 'timeout',
            error: `timed out after ${timeoutMs} ms`,
          },
        );
      }
      const error = this.#transportError(err);
      return finish(
        false,
        { type: 'failover', kind: 'unreachable', reason: error },
        { errorKind: 'unreachable', error },
      );
    }

    const status = res.status;
    const read = await readBounded(res, this.#maxResponseBytes, signal);
    if (read.type === 'timeout') {
      return finish(
        false,
        { type: 'failover', kind: 'timeout', reason: '' },
        {
          status,
          errorKind: 'timeout',
          error: `timed out after ${timeoutMs} ms reading the body`,
        },
      );
    }
    if (read.type !== 'ok' && status >= 500) {
      return finish(
        false,
        { type: 'failover', kind: 'server', status, reason: '' },
        {
          status,
          errorKind: 'server',
          error: `HTTP ${status}`,
        },
      );
    }
    if (read.type === 'too-large') {
      return protocol('too-large', `response body exceeds ${this.#maxResponseBytes} bytes`, status);
    }
    if (read.type === 'truncated')
      return protocol('truncated', 'response body was cut short', status);
    if (read.type === 'not-utf8') {
      return protocol('invalid-json', `response body is not UTF-8 (${read.bytes} bytes)`, status);
    }

    const parsed = parseJson(read.text);
    if (status >= 200 && status < 300) {
      if (parsed.type === 'error') {
        return protocol(
          parsed.problem,
          `response body is not valid JSON (${read.bytes} bytes)`,
          status,
        );
      }
      return finish(true, { type: 'ok', status, body: parsed.value }, { status });
    }
    const parsedBody = parsed.type === 'ok' ? parsed.value : undefined;
    if (opts.acceptStatus?.(status, parsedBody)) {
      return finish(true, { type: 'ok', status, body: parsedBody }, { status });
    }
    const reason = this.#reason(parsed.type === 'ok' ? parsed.value : undefined, read.text);
    if (status >= 500) {
      return finish(
        false,
        { type: 'failover', kind: 'server', status, reason },
        {
          status,
          errorKind: 'server',
          error: `HTTP ${status}`,
        },
      );
    }
    if (status === 401 || status === 403) {
      return fatal(
        'auth',
        status,
        `HTTP ${status}`,
        (a) => new BrokerAuthError(method, path, node.name, status, a),
      );
    }
    if (status === 404) {
      return fatal(
        'not-found',
        status,
        'HTTP 404',
        (a) => new BrokerNotFoundError(method, path, node.name, a),
      );
    }
    if (status >= 400) {
      return fatal(
        'rejected',
        status,
        `HTTP ${status}`,
        (a) => new BrokerRejectedError(method, path, node.name, status, reason, a),
      );
    }
    return protocol('unexpected-status', `unexpected HTTP status ${status}`, status);
  }

  #url(node: ManagementNodeEndpoint, path: string, opts: RequestOptions): string {
    const host =
      node.host.includes(':') && !node.host.startsWith('[') ? `[${node.host}]` : node.host;
    let url = `${this.#scheme}://${host}:${node.managementPort}${path}`;
    const query = Object.entries(opts.query ?? {}).filter(
      (e): e is [string, string | number | boolean] => e[1] !== undefined,
    );
    if (query.length) {
      const qs = new URLSearchParams(
        query.map(([k, v]): [string, string] => [k, String(v)]),
      ).toString();
      url += (path.includes('?') ? '&' : '?') + qs;
    }
    return url;
  }

  /** fetch() says "fetch failed"; the useful part (ECONNREFUSED ...) is in the cause. */
  #transportError(err: unknown): string {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    const message =
      typeof cause?.message === 'string'
        ? cause.message
        : err instanceof Error
          ? err.message
          : String(err);
    return redactBrokerText(
      code && !message.includes(code) ? `${code} ${message}` : message,
      this.#secrets,
      200,
    );
  }

  /** The management plugin answers errors as `{"error": ..., "reason": ...}`. */
  #reason(parsed: unknown, text: string): string {
    if (isObject(parsed)) {
      const r = parsed.reason ?? parsed.error;
      if (r !== undefined)
        return redactBrokerText(typeof r === 'string' ? r : JSON.stringify(r), this.#secrets);
      return '';
    }
    return redactBrokerText(text, this.#secrets, 200);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type ReadResult =
  | { type: 'ok'; text: string; bytes: number }
  | { type: 'too-large' }
  | { type: 'truncated' }
  | { type: 'not-utf8'; bytes: number }
  | { type: 'timeout' };

/** Reads at most `max` bytes; a connection cut mid-body reads as truncated. */
async function readBounded(res: Response, max: number, signal: AbortSignal): Promise<ReadResult> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return { type: 'too-large' };
  }
  if (!res.body) return { type: 'ok', text: '', bytes: 0 };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      if (bytes > max) {
        await reader.cancel().catch(() => undefined);
        return { type: 'too-large' };
      }
      chunks.push(value);
    }
  } catch {
    return signal.aborted ? { type: 'timeout' } : { type: 'truncated' };
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
    return { type: 'ok', text, bytes };
  } catch {
    return { type: 'not-utf8', bytes };
  }
}

type ParseResult =
  { type: 'ok'; value: unknown } | { type: 'error'; problem: 'invalid-json' | 'truncated' };

/** Never echoes the parser's message: V8 quotes the offending input, which may hold secrets. */
function parseJson(text: string): ParseResult {
  if (text.trim() === '') return { type: 'ok', value: undefined };
  try {
    return { type: 'ok', value: JSON.parse(text) as unknown };
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    const truncated = /end of JSON input|Unterminated/i.test(message);
    return { type: 'error', problem: truncated ? 'truncated' : 'invalid-json' };
  }
}
