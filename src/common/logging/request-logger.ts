import { PinoLogger } from 'nestjs-pino';
import { storage, type Store } from 'nestjs-pino/storage';
import type { Logger } from 'pino';

/**
 * nestjs-pino's per-request store, whose child logger (bound to the request id as `reqId`, as
 * pino-http binds it) is made only when something logs during the request: most requests log
 * nothing but their access line, which has its own logger.
 */
class LazyRequestLogger {
  private made?: Logger;
  readonly responseLogger = undefined;

  constructor(private readonly requestId: unknown) {}

  get logger(): Logger {
    return (this.made ??= PinoLogger.root.child({ reqId: this.requestId }));
  }

  /** PinoLogger.assign replaces it with a child carrying more fields. */
  set logger(logger: Logger) {
    this.made = logger;
  }
}

/** Runs `next` with the request's (lazy) logger as the one nestjs-pino's loggers write to. */
export function withRequestLogger<T>(requestId: unknown, next: () => T): T {
  return storage.run(new LazyRequestLogger(requestId) as unknown as Store, next);
}
