import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-codes';

export const maxJsonDepth = 32;

/** Depth of a parsed JSON value, walked with an explicit stack (a hostile body cannot overflow it). */
export function jsonDepth(value: unknown, limit = maxJsonDepth): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

const bodyMethods = new Set(['POST', 'PUT', 'PATCH']);

/** True when the request announces a non-empty body (a length above 0, or chunked). */
export function announcesBody(headers: Request['headers']): boolean {
  const length = Number(headers['content-length']);
  return headers['transfer-encoding'] !== undefined || (Number.isFinite(length) && length > 0);
}

/**
 * Guards what reaches validation: a POST/PUT/PATCH body that is not JSON is refused with 415
 * (otherwise the JSON parser skips it and the route would act on an empty body, e.g. a PATCH
 * that changes nothing yet answers 200), and absurdly nested JSON with 400 before validation
 * (which recurses) can see it.
 */
@Injectable()
export class JsonBodyMiddleware implements NestMiddleware {
  use(req: Request, _res: Response, next: NextFunction): void {
    if (
      bodyMethods.has(req.method) &&
      announcesBody(req.headers) &&
      !req.is(['application/json', 'application/*+json'])
    ) {
      next(
        new DomainException(
          ErrorCode.UnsupportedMediaType,
          415,
          'Unsupported media type',
          'The request body must be JSON (Content-Type: application/json)',
        ),
      );
      return;
    }
    if (req.body !== undefined && jsonDepth(req.body) > maxJsonDepth) {
      next(
        DomainException.validation(
          [{ field: 'body', message: `nesting deeper than ${maxJsonDepth} levels` }],
          'The request body is nested too deeply',
        ),
      );
      return;
    }
    next();
  }
}
