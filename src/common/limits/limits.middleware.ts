import { createHash } from 'node:crypto';
import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../../config/config.module';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-codes';
import { BoundedSet, TokenBuckets } from './token-buckets';

/** Seconds for a Retry-After header: whole seconds, at least 1. */
export const retryAfterSeconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/** 429 problem+json; the filter turns `retryAfter` into the Retry-After header. */
export function tooManyRequests(code: ErrorCode, detail: string, retryAfterMs: number) {
  return new DomainException(code, 429, 'Too many requests', detail, [], {
    retryAfter: retryAfterSeconds(retryAfterMs),
  });
}

const bearerPattern = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/;

/** The buckets of every request path that is rate limited (the middleware, the /health/live fast path). */
@Injectable()
export class RateLimits {
  readonly tokens?: TokenBuckets;
  readonly addresses?: TokenBuckets;
  readonly knownTokens = new BoundedSet(10000);

  constructor(env: AppConfig) {
    if (env.RATE_LIMIT_TOKEN_PER_SECOND > 0)
      this.tokens = new TokenBuckets(env.RATE_LIMIT_TOKEN_PER_SECOND, env.RATE_LIMIT_TOKEN_BURST);
    if (env.RATE_LIMIT_ADDRESS_PER_SECOND > 0)
      this.addresses = new TokenBuckets(
        env.RATE_LIMIT_ADDRESS_PER_SECOND,
        env.RATE_LIMIT_ADDRESS_BURST,
      );
  }
}

/**
 * Per-caller request rate: a token that authenticated before is limited on its own bucket;
 * requests without a token, or with one never seen to authenticate (a guessed or revoked
 * secret), share their client address's bucket, so rotating made-up tokens buys nothing.
 */
@Injectable()
export class RateLimitMiddleware implements NestMiddleware {
  constructor(private readonly limits: RateLimits) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const { knownTokens } = this.limits;
    // Both limits off: nothing to choose between, nothing to track.
    if (!this.limits.tokens && !this.limits.addresses) return next();
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? bearerPattern.exec(header) : null;
    const tokenKey = m ? createHash('sha256').update(m[1]).digest('base64url') : undefined;
    if (tokenKey) {
      res.once('finish', () => {
        if (res.statusCode === 401) knownTokens.delete(tokenKey);
        else if (res.statusCode !== 429) knownTokens.add(tokenKey);
      });
    }
    const perToken = tokenKey !== undefined && knownTokens.has(tokenKey);
    const buckets = perToken ? this.limits.tokens : this.limits.addresses;
    if (!buckets) return next();
    const key = perToken ? tokenKey : (req.ip ?? req.socket.remoteAddress ?? 'unknown');
    const taken = buckets.take(key);
    if (taken.allowed) return next();
    next(
      tooManyRequests(
        ErrorCode.RateLimited,
        perToken
          ? 'This token sent more requests than its rate limit allows; retry after the delay in Retry-After'
          : 'This address sent more unauthenticated requests than the limit allows; retry after the delay in Retry-After',
        taken.retryAfterMs,
      ),
    );
  }
}
