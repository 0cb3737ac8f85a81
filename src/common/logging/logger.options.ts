import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import pino, { type Logger } from 'pino';
import { redactDeep, redactString } from './redact';

const clientRequestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Log objects built from fields that are scrubbed (or cannot hold a secret) as they are made:
 * the access line of every request. The formatter does not walk them again.
 */
export const scrubbedLines = new WeakSet<object>();

export type RequestWithIds = IncomingMessage & { id?: unknown; clientRequestId?: string };

/**
 * The request id is always the server's own (unique, not chosen by a caller). A caller's
 * well-formed X-Request-Id is kept beside it as `clientRequestId`, so ids still follow a call
 * across systems; a malformed one is ignored.
 */
export function requestIdFor(req: IncomingMessage, res: ServerResponse): string {
  const id = newRequestId(req);
  res.setHeader('X-Request-Id', id);
  return id;
}

/** A new request id, the caller's well-formed X-Request-Id kept on `req`; no header is set. */
export function newRequestId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  const given = Array.isArray(header) ? header[0] : header;
  if (given && clientRequestIdPattern.test(given)) {
    (req as RequestWithIds).clientRequestId = given;
  }
  return randomUUID();
}

/** The service's root logger: JSON lines, secrets scrubbed from every field and message. */
export function rootLogger(level: string, file?: string): Logger {
  return pino(
    {
      level,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-api-key"]',
          'res.headers["set-cookie"]',
        ],
        censor: '(redacted)',
      },
      serializers: {
        req: (req: { id?: string; method?: string; url?: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url && redactString(req.url),
        }),
        err: (err: unknown) => redactDeep(err),
      },
      formatters: {
        level: (label: string) => ({ level: label }),
        // `req` and `res` are the raw node objects here (body included); their serializers keep
        // only scrubbed fields, so walking them would cost time for nothing.
        log: (object: Record<string, unknown>) => {
          if (scrubbedLines.has(object)) return object;
          const { req, res, ...rest } = object;
          return {
            ...(redactDeep(rest) as Record<string, unknown>),
            ...(req === undefined ? {} : { req }),
            ...(res === undefined ? {} : { res }),
          };
        },
      },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) =>
            typeof a === 'string' ? redactString(a) : a,
          ) as typeof args;
          method.apply(this, scrubbed);
        },
      },
    },
    // LOG_FILE sends logs to a file (tests scan it for leaked secrets); stdout otherwise.
    file ? pino.destination({ dest: file, sync: true, mkdir: true }) : pino.destination(1),
  );
}

/**
 * The root logger for nestjs-pino. Its per-request child logger (bound to the request id) for
 * application logs is bound by RequestContextMiddleware, lazily (`withRequestLogger`), not by
 * pino-http's middleware, which builds three child loggers per request (one walked by the
 * redactor). The access line is not pino-http's either: `accessLog` writes it from the outermost
 * middleware, so requests that fail before routing (body parser, unknown route) get one too.
 */
export function loggerOptions(level: string, file?: string): Params {
  return {
    pinoHttp: { logger: rootLogger(level, file), autoLogging: false, quietReqLogger: true },
    forRoutes: [],
  };
}

/** The root logger inside the params `loggerOptions` built. */
export function loggerOf(params: Params): Logger | undefined {
  const http = params.pinoHttp;
  return http && !Array.isArray(http) && 'logger' in http ? (http.logger as Logger) : undefined;
}
