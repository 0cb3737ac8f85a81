import { redactBrokerText, type BrokerProtocolProblem } from './management.errors';
import type {
  BrokerErrorKind,
  HttpMethod,
  ManagementNodeEndpoint,
  NodeAttempt,
  RequestOptions,
} from './management.types';

/** Everything one HTTP attempt against one node needs. */
export interface AttemptRequest {
  node: ManagementNodeEndpoint;
  scheme: string;
  authorization: string;
  /** Literal strings to scrub from anything echoed back (our password). */
  secrets: string[];
  method: HttpMethod;
  path: string;
  body: unknown;
  opts: RequestOptions;
  timeoutMs: number;
  maxResponseBytes: number;
}

export type AttemptOutcome =
  | { type: 'ok'; status: number; body: unknown }
  | {
      type: 'failed';
      kind: BrokerErrorKind;
      status?: number;
      /** Redacted broker explanation (4xx/5xx `reason`). */
      reason: string;
      /** Short redacted description, also kept in the attempt record. */
      detail: string;
      problem?: BrokerProtocolProblem;
    };

export interface AttemptResult {
  attempt: NodeAttempt;
  outcome: AttemptOutcome;
}

/**
 * One request to one node, classified but never thrown: connection errors, timeouts (connect,
 * headers or body), HTTP statuses, oversized, cut or non-JSON bodies. The caller decides about
 * failover and builds the typed error.
 */
export async function attemptNode(req: AttemptRequest): Promise<AttemptResult> {
  const started = performance.now();
  const signal = AbortSignal.timeout(req.timeoutMs);
  const done = (outcome: AttemptOutcome): AttemptResult => {
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    const status = outcome.status;
    const attempt: NodeAttempt =
      outcome.type === 'ok'
        ? { node: req.node.name, ok: true, status, latencyMs }
        : {
            node: req.node.name,
            ok: false,
            ...(status === undefined ? {} : { status }),
            errorKind: outcome.kind,
            error: outcome.detail,
            latencyMs,
          };
    return { attempt, outcome };
  };
  const failed = (
    kind: BrokerErrorKind,
    detail: string,
    extra: { status?: number; reason?: string; problem?: BrokerProtocolProblem } = {},
  ) => done({ type: 'failed', kind, detail, reason: extra.reason ?? '', ...extra });
  const timedOut = `timed out after ${req.timeoutMs} ms`;

  let res: Response;
  try {
    res = await fetch(requestUrl(req), {
      method: req.method,
      headers: {
        authorization: req.authorization,
        accept: 'application/json',
        ...(req.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      // A redirect is not something the management API does; following one would carry our
      // credentials elsewhere.
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    if (signal.aborted) return failed('timeout', timedOut);
    return failed('unreachable', transportError(err, req.secrets));
  }

  const status = res.status;
  const read = await readBounded(res, req.maxResponseBytes, signal);
  if (read.type === 'timeout') {
    return failed('timeout', `${timedOut} reading the body`, { status });
  }
  if (status >= 500 && read.type !== 'ok') return failed('server', `HTTP ${status}`, { status });
  if (read.type === 'too-large') {
    return failed('protocol', `response body exceeds ${req.maxResponseBytes} bytes`, {
      status,
      problem: 'too-large',
    });
  }
  if (read.type === 'truncated') {
    return failed('protocol', 'response body was cut short', { status, problem: 'truncated' });
  }
  if (read.type === 'not-utf8') {
    return failed('protocol', `response body is not UTF-8 (${read.bytes} bytes)`, {
      status,
      problem: 'invalid-json',
    });
  }

  const parsed = parseJson(read.text);
  if (status >= 200 && status < 300) {
    if (parsed.type === 'error') {
      return failed('protocol', `response body is not valid JSON (${read.bytes} bytes)`, {
        status,
        problem: parsed.problem,
      });
    }
    return done({ type: 'ok', status, body: parsed.value });
  }
  const parsedBody = parsed.type === 'ok' ? parsed.value : undefined;
  if (req.opts.acceptStatus?.(status, parsedBody))
    return done({ type: 'ok', status, body: parsedBody });

  const reason = errorReason(parsedBody, read.text, req.secrets);
  const http = `HTTP ${status}`;
  if (status >= 500) return failed('server', http, { status, reason });
  if (status === 401 || status === 403) return failed('auth', http, { status, reason });
  if (status === 404) return failed('not-found', http, { status, reason });
  if (status >= 400) return failed('rejected', http, { status, reason });
  return failed('protocol', `unexpected HTTP status ${status}`, {
    status,
    problem: 'unexpected-status',
  });
}

function requestUrl(req: AttemptRequest): string {
  const { host: rawHost, managementPort } = req.node;
  const host = rawHost.includes(':') && !rawHost.startsWith('[') ? `[${rawHost}]` : rawHost;
  let url = `${req.scheme}://${host}:${managementPort}${req.path}`;
  const query = Object.entries(req.opts.query ?? {}).flatMap(([k, v]): [string, string][] =>
    v === undefined ? [] : [[k, String(v)]],
  );
  if (query.length) {
    url += (req.path.includes('?') ? '&' : '?') + new URLSearchParams(query).toString();
  }
  return url;
}

/** fetch() says "fetch failed"; the useful part (connect ECONNREFUSED ...) is in the cause. */
function transportError(err: unknown, secrets: string[]): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message =
    typeof cause?.message === 'string'
      ? cause.message
      : err instanceof Error
        ? err.message
        : String(err);
  const text = code && !message.includes(code) ? `${code} ${message}` : message;
  return redactBrokerText(text, secrets, 200);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The management plugin answers errors as `{"error": ..., "reason": ...}`. */
function errorReason(parsed: unknown, text: string, secrets: string[]): string {
  if (isObject(parsed)) {
    const r = parsed.reason ?? parsed.error;
    if (r === undefined) return '';
    return redactBrokerText(typeof r === 'string' ? r : JSON.stringify(r), secrets);
  }
  return redactBrokerText(text, secrets, 200);
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
    return {
      type: 'error',
      problem: /end of JSON input|Unterminated/i.test(message) ? 'truncated' : 'invalid-json',
    };
  }
}
