import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { DomainException } from '../errors/domain.exception';
import { etagOf } from '../http/etag';
import { JsonText } from '../http/pagination';
import { withRequestLogger } from '../logging/request-logger';
import { requestContext } from './request-context';

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const reasonPattern = /^[^\u0000-\u001f\u007f]{1,500}$/u;

/**
 * Opens the request context: request id (from the access log middleware), the optional
 * X-Change-Reason, and the request's logger for application logs.
 */
@Injectable()
export class RequestContextMiddleware implements NestMiddleware {
  use(
    req: Request & { id?: unknown; clientRequestId?: string },
    res: Response,
    next: NextFunction,
  ): void {
    const header = req.headers['x-change-reason'];
    const raw = Array.isArray(header) ? header.join(', ') : header;
    let reason: string | undefined;
    if (raw !== undefined && raw !== '') {
      // Header values arrive as latin1; reasons are meant to be UTF-8 text.
      const decoded = Buffer.from(raw, 'latin1').toString('utf8');
      if (!reasonPattern.test(decoded)) {
        next(
          DomainException.validation(
            [{ field: 'header.X-Change-Reason', message: 'must be 1 to 500 printable characters' }],
            'X-Change-Reason is invalid',
          ),
        );
        return;
      }
      reason = decoded;
    }
    // ETag for any single resource with a version, set where the body is serialised: cheaper
    // than a global interceptor, which would wrap every route in rxjs.
    const json = res.json.bind(res);
    res.json = (body?: unknown) => {
      if (body instanceof JsonText) {
        // Serialised already (by Postgres): the headers res.json sets, then the text as it is.
        if (plainJsonAnswer(req, res)) return sendJson(req, res, body.text);
        if (!res.get('Content-Type')) res.set('Content-Type', 'application/json');
        return res.send(body.text);
      }
      const version = (body as { version?: unknown } | null)?.version;
      if (typeof version === 'number' && !res.headersSent) res.setHeader('ETag', etagOf(version));
      else if (body !== undefined && plainJsonAnswer(req, res)) {
        const text = JSON.stringify(body) as string | undefined;
        if (text !== undefined) return sendJson(req, res, text);
      }
      return json(body);
    };
    requestContext.run(
      {
        requestId: req.id === undefined ? undefined : String(req.id),
        clientRequestId: req.clientRequestId,
        reason,
      },
      () => withRequestLogger(req.id, next),
    );
  }
}

/**
 * True when express's res.json would do nothing but serialise and set the two headers: no
 * Content-Type chosen yet, no conditional request (express answers 304 to a matching one), a
 * status that carries a body. The rest goes through express.
 */
function plainJsonAnswer(req: Request, res: Response): boolean {
  return (
    !res.headersSent &&
    res.getHeader('Content-Type') === undefined &&
    req.headers['if-none-match'] === undefined &&
    req.headers['if-modified-since'] === undefined &&
    res.statusCode !== 204 &&
    res.statusCode !== 304
  );
}

/** What express's res.json answers for a plain JSON body, without its header parsing. */
function sendJson(req: Request, res: Response, text: string): Response {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  if (req.method === 'HEAD') res.end();
  else res.end(text);
  return res;
}
