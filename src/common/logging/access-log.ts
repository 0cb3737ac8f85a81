import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Actor } from '../access/actor';
import { requestIdFor } from './logger.options';

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

export function accessLineOf(req: AccessRequest, res: Response, startedNs: bigint): AccessLine {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  return {
    requestId: String(req.id),
    ...(req.clientRequestId === undefined ? {} : { clientRequestId: req.clientRequestId }),
    method: req.method,
    // Catch-all middleware routes (`/{*path}`) name no endpoint: the request matched none.
    route: typeof route === 'string' && !route.includes('*') ? `${req.baseUrl}${route}` : null,
    path: (req.originalUrl ?? req.url).split('?')[0],
    status: res.statusCode,
    durationMs: Math.round(Number(process.hrtime.bigint() - startedNs) / 1e4) / 100,
    tokenName: req.actor?.kind === 'token' ? req.actor.name : null,
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
      const line = accessLineOf(req, res, started);
      const aborted = !res.writableFinished;
      // The client left before an answer was sent: nginx's 499, not Node's default 200.
      if (aborted && !res.headersSent) line.status = clientClosedRequest;
      const level =
        line.status >= 500
          ? 'error'
          : line.status >= 400
            ? 'warn'
            : quietPaths.has(line.path)
              ? 'debug'
              : 'info';
      log[level](
        aborted ? { ...line, aborted: true } : line,
        aborted ? 'request aborted' : 'request completed',
      );
    };
    res.once('finish', write);
    res.once('close', write);
    next();
  };
}
