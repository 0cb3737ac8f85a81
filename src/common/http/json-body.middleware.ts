import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { DomainException, type FieldError } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-codes';
import { maxBodyMembers, maxBodyValues } from './body-limits';

export const maxJsonDepth = 32;

export interface ShapeLimits {
  depth: number;
  members: number;
  values: number;
}

/**
 * The first limit a parsed JSON body breaks, found in one walk (an explicit stack: a hostile body
 * cannot overflow it) that stops there: nesting depth, members of one array or object (named by
 * its path), values in all. Counting is linear, so it runs before validators whose cost grows
 * faster with the body.
 */
export function jsonShapeProblem(value: unknown, limits: ShapeLimits): FieldError | undefined {
  let values = 0;
  const stack: [unknown, number, string][] = [[value, 1, '']];
  while (stack.length) {
    const [v, depth, path] = stack.pop() as [unknown, number, string];
    values += 1;
    if (values > limits.values)
      return { field: 'body', message: `more than ${limits.values} values` };
    if (v === null || typeof v !== 'object') continue;
    if (depth > limits.depth)
      return { field: 'body', message: `nesting deeper than ${limits.depth} levels` };
    const size = Array.isArray(v) ? v.length : Object.keys(v).length;
    if (size > limits.members)
      return { field: path || 'body', message: `more than ${limits.members} members` };
    const entries: [string, unknown][] = Array.isArray(v)
      ? v.map((child, i) => [String(i), child])
      : Object.entries(v);
    for (const [k, child] of entries)
      stack.push([child, depth + 1, path ? `${path}.${k.slice(0, 64)}` : k.slice(0, 64)]);
  }
  return undefined;
}

const bodyShape: ShapeLimits = {
  depth: maxJsonDepth,
  members: maxBodyMembers,
  values: maxBodyValues,
};

const bodyMethods = new Set(['POST', 'PUT', 'PATCH']);

/** True when the request announces a non-empty body (a length above 0, or chunked). */
export function announcesBody(headers: Request['headers']): boolean {
  const length = Number(headers['content-length']);
  return headers['transfer-encoding'] !== undefined || (Number.isFinite(length) && length > 0);
}

/**
 * Guards what reaches validation: a POST/PUT/PATCH body that is not JSON is refused with 415
 * (otherwise the JSON parser skips it and the route would act on an empty body, e.g. a PATCH
 * that changes nothing yet answers 200), and absurdly nested or oversized JSON (depth, members
 * of one array or object, values in all) with 400 before validation (which recurses, and is
 * quadratic in places) can see it.
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
    const shape = req.body === undefined ? undefined : jsonShapeProblem(req.body, bodyShape);
    if (shape) {
      next(
        DomainException.validation(
          [shape],
          shape.message.startsWith('nesting')
            ? 'The request body is nested too deeply'
            : 'The request body has too many members',
        ),
      );
      return;
    }
    next();
  }
}
