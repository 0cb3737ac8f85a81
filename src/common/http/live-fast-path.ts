import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { TokenBuckets } from '../limits/token-buckets';
import { newRequestId, type RequestWithIds } from '../logging/logger.options';

export interface LiveFastPathDeps {
  /** The security headers middleware (helmet): its headers are static, read once. */
  securityHeaders: RequestHandler;
  /** The per-address buckets of unauthenticated requests, when rate limiting is on. */
  addresses?: TokenBuckets;
  logger: () => Logger | undefined;
  /**
   * The HTTP latency histogram's series for a method of this route (`route` /health/live,
   * `status` 2xx, as HttpMetricsMiddleware labels it): resolved once, observed in seconds.
   */
  durationSeries: (method: 'GET' | 'HEAD') => { observe: (seconds: number) => void };
}

/** A string, so Node sends it in one write with the headers. */
const liveBody = JSON.stringify({ status: 'ok' });

/** The headers a middleware sets on every response, read by running it once on a stub. */
export function staticHeadersOf(middleware: RequestHandler): [string, string][] {
  const headers: [string, string][] = [];
  const res = {
    setHeader: (name: string, value: unknown) => headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  let passed = false;
  middleware({} as never, res as never, () => (passed = true));
  if (!passed) throw new Error('the security headers middleware did not pass the request on');
  return headers;
}

/**
 * True for the requests the fast path answers exactly as the full stack would: `GET` or
 * `HEAD /health/live` (no query string), no body, no credentials (a token has a rate bucket of its
 * own), no X-Change-Reason (the full stack validates it). Everything else takes the full stack.
 */
export function servedByFastPath(req: IncomingMessage): boolean {
  const h = req.headers;
  return (
    req.url === '/health/live' &&
    (req.method === 'GET' || req.method === 'HEAD') &&
    h['content-length'] === undefined &&
    h['transfer-encoding'] === undefined &&
    h.authorization === undefined &&
    h['x-change-reason'] === undefined
  );
}

/**
 * `GET /health/live` without the framework: probed every few seconds by orchestrators and
 * scrapers (and by tooling polling hundreds of links), it needs no routing, no guard, no pipe and
 * no database. The answer is the one the full stack gives (the same body, the security headers,
 * no-store, a request id of the server's own, the caller's well-formed X-Request-Id kept in the
 * log, the address rate limit, the latency histogram, the access line at debug); a request the
 * address bucket refuses goes on to the full stack, which refuses it the usual way (429
 * problem+json with Retry-After).
 */
export function withLiveFastPath(server: Server, deps: LiveFastPathDeps): void {
  // One flat array handed to writeHead: no per-header setHeader bookkeeping. The request id
  // comes first, as the full stack sets it first; its slot is filled per request.
  const headers: string[] = [
    'X-Request-Id',
    '',
    ...staticHeadersOf(deps.securityHeaders).flat(),
    'Cache-Control',
    'no-store',
    'Content-Type',
    'application/json; charset=utf-8',
    'Content-Length',
    String(Buffer.byteLength(liveBody)),
  ];
  const series = { GET: deps.durationSeries('GET'), HEAD: deps.durationSeries('HEAD') };
  const full = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  const fullStack: RequestListener = (req, res) => {
    for (const l of full) l(req, res);
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!servedByFastPath(req)) return fullStack(req, res);
    const key = req.socket.remoteAddress ?? 'unknown';
    if (deps.addresses && !deps.addresses.take(key).allowed) return fullStack(req, res);
    const started = process.hrtime.bigint();
    const id = newRequestId(req);
    // writeHead reads the array at once (into the header block) and keeps no reference to it.
    headers[1] = id;
    res.writeHead(200, headers);
    res.end(liveBody);
    const ns = Number(process.hrtime.bigint() - started);
    series[req.method as 'GET' | 'HEAD'].observe(ns / 1e9);
    const log = deps.logger();
    if (log?.isLevelEnabled('debug')) {
      const clientRequestId = (req as RequestWithIds).clientRequestId;
      log.debug(
        {
          requestId: id,
          ...(clientRequestId === undefined ? {} : { clientRequestId }),
          method: req.method,
          route: '/health/live',
          path: '/health/live',
          status: 200,
          durationMs: Math.round(ns / 1e4) / 100,
          tokenName: null,
        },
        'request completed',
      );
    }
  });
}
