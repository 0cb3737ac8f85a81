import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Actor } from '../actor/actor';
import { requestIdFor, scrubbedLines } from './logger.options';
import { redactString } from './redact';

/** Probed every few seconds by orchestrators and scrapers: logged at debug, not info. */
const quietPaths = new Set(['/health/live', '/metrics']);
const clientClosedRequest = 499;

export interface AccessLine {
  requestId: string;
  /** A caller's own well-formed X-Request-Id, kept beside the server's id. */
  clientRequestId?: string;
  method: string;
  route: string | null;
  path: string;
  status: number;
  durationMs: number;
  /** Name of the API token that authenticated the request; never the token itself. */
  tokenName: string | null;
}

type AccessRequest = Request & { id?: unknown; actor?: Actor; clientRequestId?: string };

/**
 * The access line, scrubbed as it is built: the path (a caller's text) and the token name go
 * through `redactString`; the other fields cannot carry a secret (a server-made UUID, a
 * caller's id of `[A-Za-z0-9._:-]`, the method, a route template, numbers).
 */
export function accessLineOf(req: AccessRequest, res: Response, startedNs: bigint): AccessLine {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  return {
    requestId: String(req.id),
    ...(req.clientRequestId === undefined ? {} : { clientRequestId: req.clientRequestId }),
    method: req.method,
    // Catch-all middleware routes (`/{*path}`) name no endpoint: the request matched none.
    route: typeof route === 'string' && !route.includes('*') ? `${req.baseUrl}${route}` : null,
    path: redactString((req.originalUrl ?? req.url).split('?')[0]),
    status: res.statusCode,
    durationMs: Math.round(Number(process.hrtime.bigint() - startedNs) / 1e4) / 100,
    tokenName: req.actor?.kind === 'token' ? redactString(req.actor.name) : null,
  };
}

/**
 * The outermost middleware: assigns the request id (before the body parser, so even a
 * malformed body's 400 carries it) and writes exactly one access line when the response ends
 * (or the client goes away first).
 */
export function accessLog(logger: () => Logger | undefined) {
  return (req: AccessRequest, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    if (req.id === undefined) req.id = requestIdFor(req, res);
    let done = false;
    const write = () => {
      if (done) return;
      done = true;
      const log = logger();
      if (!log) return;
      const aborted = !res.writableFinished;
      // The client left before an answer was sent: nginx's 499, not Node's default 200.
      const status = aborted && !res.headersSent ? clientClosedRequest : res.statusCode;
      const level =
        status >= 500
          ? 'error'
          : status >= 400
            ? 'warn'
            : quietPaths.has((req.originalUrl ?? req.url).split('?')[0])
              ? 'debug'
              : 'info';
      // Nothing to build for a level the logger drops (pino's own methods would drop it too).
      if (typeof log.isLevelEnabled === 'function' && !log.isLevelEnabled(level)) return;
      const line = accessLineOf(req, res, started);
      line.status = status;
      const entry = aborted ? { ...line, aborted: true } : line;
      scrubbedLines.add(entry);
      log[level](entry, aborted ? 'request aborted' : 'request completed');
    };
    res.once('finish', write);
    res.once('close', write);
    next();
  };
}
