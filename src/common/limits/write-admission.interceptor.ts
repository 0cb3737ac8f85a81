import {
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  RequestMethod,
  SetMetadata,
} from '@nestjs/common';
import { INTERCEPTORS_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { ModulesContainer, Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { finalize, from, mergeMap, type Observable } from 'rxjs';
import { AppConfig } from '../../config/config.module';
import { ErrorCode } from '../errors/error-codes';
import { AdmissionQueue, AdmissionRefused } from './admission-queue';
import { tooManyRequests } from './limits.middleware';

const skipKey = 'crossdock:skip-write-queue';

/**
 * For writes that spend their time on brokers, not on a registry transaction (a reconcile
 * pass, an observation, an import preview): they would hold the queue's slot for seconds.
 */
export const SkipWriteQueue = (): MethodDecorator & ClassDecorator => SetMetadata(skipKey, true);

const writeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The writes served at once. Registry writes are serialised in Postgres anyway (the validation
 * and audit-chain advisory locks): a second one in flight only waits on those locks while
 * holding a connection, and a long wait ends in a statement timeout (503). So one at a time by
 * default, the rest queued in arrival order.
 */
export function writeSlots(env: Pick<AppConfig, 'WRITE_CONCURRENCY'>): number {
  return env.WRITE_CONCURRENCY > 0 ? env.WRITE_CONCURRENCY : 1;
}

/**
 * Writes queue for a slot (bounded count, bounded wait) instead of all reaching for a database
 * connection at once: a burst is served in order, and what cannot be served within
 * WRITE_QUEUE_TIMEOUT_MS is answered 429 with Retry-After rather than a pool-exhaustion 503.
 * Runs after authentication, so only callers with a valid token can occupy the queue.
 */
@Injectable()
export class WriteAdmissionInterceptor implements NestInterceptor {
  readonly queue: AdmissionQueue;

  constructor(
    env: AppConfig,
    private readonly reflector: Reflector,
  ) {
    this.queue = new AdmissionQueue(
      writeSlots(env),
      env.WRITE_QUEUE_MAX,
      env.WRITE_QUEUE_TIMEOUT_MS,
    );
  }

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<Response>();
    if (
      !writeMethods.has(req.method) ||
      this.reflector.getAllAndOverride<boolean>(skipKey, [ctx.getHandler(), ctx.getClass()])
    )
      return next.handle();
    const admitted = this.queue
      .acquire({ onAbort: (fn) => res.once('close', fn) })
      .catch((err: unknown) => {
        if (!(err instanceof AdmissionRefused)) throw err;
        throw tooManyRequests(
          ErrorCode.Overloaded,
          err.reason === 'queue-full'
            ? 'Too many writes are waiting; retry after the delay in Retry-After'
            : 'The write waited too long for its turn; retry after the delay in Retry-After',
          err.retryAfterMs,
        );
      });
    return from(admitted).pipe(mergeMap((release) => next.handle().pipe(finalize(release))));
  }
}

const writeRequestMethods = new Set<RequestMethod>([
  RequestMethod.POST,
  RequestMethod.PUT,
  RequestMethod.PATCH,
  RequestMethod.DELETE,
  RequestMethod.ALL,
]);

/**
 * Binds the interceptor to the write handlers only (not `@SkipWriteQueue()`), instead of to every
 * route: a global interceptor wraps each read in rxjs and an async resource for nothing. Must run
 * before the routes are registered (`app.init()` / `app.listen()`); handlers registered later
 * are not covered.
 */
export function bindWriteAdmission(
  modules: ModulesContainer,
  interceptor: WriteAdmissionInterceptor,
): void {
  const reflector = new Reflector();
  for (const module of modules.values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!controller || typeof controller !== 'function') continue;
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        if (name === 'constructor') continue;
        const handler = Object.getOwnPropertyDescriptor(controller.prototype, name)?.value as
          ((...args: unknown[]) => unknown) | undefined;
        if (typeof handler !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (method === undefined || !writeRequestMethods.has(method)) continue;
        if (reflector.getAllAndOverride<boolean>(skipKey, [handler, controller])) continue;
        const own = (Reflect.getMetadata(INTERCEPTORS_METADATA, handler) ?? []) as unknown[];
        if (own.includes(interceptor)) continue;
        Reflect.defineMetadata(INTERCEPTORS_METADATA, [interceptor, ...own], handler);
      }
    }
  }
}
