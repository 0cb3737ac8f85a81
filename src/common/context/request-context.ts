import { AsyncLocalStorage } from 'node:async_hooks';
import type { Actor } from '../actor/actor';

/** Per-request facts that deep layers (audit) need without threading them through every call. */
export interface RequestContext {
  requestId?: string;
  /** The caller's own X-Request-Id, when well-formed (never used as the request id). */
  clientRequestId?: string;
  actor?: Actor;
  reason?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const requestContext = {
  run<T>(ctx: RequestContext, fn: () => T): T {
    return storage.run(ctx, fn);
  },
  current(): RequestContext | undefined {
    return storage.getStore();
  },
};
