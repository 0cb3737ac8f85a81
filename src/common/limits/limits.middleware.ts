import { createHash } from 'node:crypto';
import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../../config/config.module';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-codes';
import { AdmissionQueue, AdmissionRefused } from './admission-queue';
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

/**
 * Per-caller request rate: a token that authenticated before is limited on its own bucket;
 * requests without a token, or with one never seen to authenticate (a guessed or revoked
 * secret), share their client address's bucket, so rotating made-up tokens buys nothing.
 */
@Injectable()
export class RateLimitMiddleware implements NestMiddleware {
  private readonly tokens?: TokenBuckets;
  private readonly addresses?: TokenBuckets;
  private readonly knownTokens = new BoundedSet(10000);

  constructor(env: AppConfig) {
    if (env.RATE_LIMIT_TOKEN_PER_SECOND > 0)
      this.tokens = new TokenBuckets(env.RATE_LIMIT_TOKEN_PER_SECOND, env.RATE_LIMIT_TOKEN_BURST);
    if (env.RATE_LIMIT_ADDRESS_PER_SECOND > 0)
      this.addresses = new TokenBuckets(
        env.RATE_LIMIT_ADDRESS_PER_SECOND,
        env.RATE_LIMIT_ADDRESS_BURST,
      );
  }

  use(req: Request, res: Response, next: NextFunction): void {
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? bearerPattern.exec(header) : null;
    const tokenKey = m ? createHash('sha256').update(m[1]).digest('base64url') : undefined;
    if (tokenKey) {
      res.once('finish', () => {
        if (res.statusCode === 401) this.knownTokens.delete(tokenKey);
        else if (res.statusCode !== 429) this.knownTokens.add(tokenKey);
      });
    }
    const perToken = tokenKey !== undefined && this.knownTokens.has(tokenKey);
    const buckets = perToken ? this.tokens : this.addresses;
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

const writeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The writes served at once. Registry writes are serialised in Postgres anyway (the validation
 * and audit-chain advisory locks), so more slots only make transactions wait on those locks while
 * holding a connection, and a long wait ends in a statement timeout: two by default (one
 * running, one ready), one on a pool smaller than 8.
 */
export function writeSlots(env: Pick<AppConfig, 'WRITE_CONCURRENCY' | 'DB_POOL_SIZE'>): number {
  if (env.WRITE_CONCURRENCY > 0) return env.WRITE_CONCURRENCY;
  return env.DB_POOL_SIZE >= 8 ? 2 : 1;
}

/**
 * Writes queue for a slot (bounded count, bounded wait) instead of all reaching for a database
 * connection at once: a burst of writes is served in order, and what cannot be served within
 * WRITE_QUEUE_TIMEOUT_MS is answered 429 with Retry-After rather than a pool-exhaustion 503.
 */
@Injectable()
export class WriteAdmissionMiddleware implements NestMiddleware {
  readonly queue: AdmissionQueue;

  constructor(env: AppConfig) {
    this.queue = new AdmissionQueue(
      writeSlots(env),
      env.WRITE_QUEUE_MAX,
      env.WRITE_QUEUE_TIMEOUT_MS,
    );
  }

  use(req: Request, res: Response, next: NextFunction): void {
    if (!writeMethods.has(req.method)) return next();
    this.queue.acquire({ onAbort: (fn) => res.once('close', fn) }).then(
      (release) => {
        res.once('finish', release);
        res.once('close', release);
        if (res.destroyed) release();
        else next();
      },
      (err: unknown) => {
        if (res.destroyed) return;
        if (err instanceof AdmissionRefused) {
          next(
            tooManyRequests(
              ErrorCode.Overloaded,
              err.reason === 'queue-full'
                ? 'Too many writes are waiting; retry after the delay in Retry-After'
                : 'The write waited too long for its turn; retry after the delay in Retry-After',
              err.retryAfterMs,
            ),
          );
        } else next(err);
      },
    );
  }
}
