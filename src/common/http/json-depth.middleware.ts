import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { DomainException } from '../errors/domain.exception';

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

/** Refuses absurdly nested bodies before validation (which recurses) can see them. */
@Injectable()
export class JsonDepthMiddleware implements NestMiddleware {
  use(req: Request, _res: Response, next: NextFunction): void {
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
