import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  Logger,
  Optional,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { poolCheckoutTimeout, poolSaturated } from './pool-pressure';
import { DomainException, FieldError } from './domain.exception';
import { ErrorCode, problemTypeBase } from './error-codes';
import { isDatabaseUnavailable, mapPostgresError, pgFields } from './postgres-errors';
import { redactValue } from '../logging/redact';

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: ErrorCode;
  errors?: FieldError[];
  requestId?: string;
  /** The caller's own X-Request-Id, when it sent a well-formed one. */
  clientRequestId?: string;
  [extension: string]: unknown;
}

const httpStatusCodes: Record<number, ErrorCode> = {
  400: ErrorCode.MalformedRequest,
  401: ErrorCode.Unauthenticated,
  403: ErrorCode.Forbidden,
  404: ErrorCode.RouteNotFound,
  405: ErrorCode.MethodNotAllowed,
  409: ErrorCode.Conflict,
  412: ErrorCode.PreconditionFailed,
  413: ErrorCode.PayloadTooLarge,
  415: ErrorCode.UnsupportedMediaType,
  503: ErrorCode.ServiceUnavailable,
};

export function toProblem(
  exception: unknown,
  poolBusy: () => boolean = () => false,
): { problem: ProblemDetails; unexpected: boolean } {
  const mapped = mapPostgresError(exception);
  const domain = exception instanceof DomainException ? exception : mapped;
  if (domain) {
    return {
      problem: {
        type: problemTypeBase + domain.code,
        title: domain.title,
        status: domain.status,
        detail: domain.detail,
        code: domain.code,
        ...(domain.errors.length ? { errors: domain.errors } : {}),
        ...domain.extensions,
      },
      unexpected: false,
    };
  }
  if (isDatabaseUnavailable(exception)) {
    const message = (exception as { message?: unknown }).message;
    const busyPool = typeof message === 'string' && poolCheckoutTimeout.test(message) && poolBusy();
    // Postgres is up and at capacity (every pooled connection busy, or its own connection limit
    // reached, 53300): the caller should slow down and retry, not treat it as an outage.
    if (busyPool || pgFields(exception).code === '53300') {
      return {
        problem: {
          type: problemTypeBase + ErrorCode.Overloaded,
          title: 'Too many requests',
          status: 429,
          detail: 'Every database connection is busy; retry after the delay in Retry-After',
          code: ErrorCode.Overloaded,
          retryAfter: 1,
        },
        unexpected: false,
      };
    }
    return {
      problem: {
        type: problemTypeBase + ErrorCode.DatabaseUnavailable,
        title: 'Service unavailable',
        status: 503,
        detail: 'The database is unavailable; retry later',
        code: ErrorCode.DatabaseUnavailable,
      },
      unexpected: false,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code =
      httpStatusCodes[status] ?? (status >= 500 ? ErrorCode.Internal : ErrorCode.MalformedRequest);
    const body = exception.getResponse();
    // Express body-parser errors carry parser internals; keep the message generic.
    const detail =
      status === 404
        ? 'No such route'
        : typeof body === 'object' &&
            body !== null &&
            'message' in body &&
            typeof body.message === 'string'
          ? body.message
          : exception.message;
    if (status === 503) {
      // Readiness (terminus) failures: keep the per-dependency verdicts, they carry no secrets.
      const checks =
        typeof body === 'object' && body !== null && 'details' in body ? body.details : undefined;
      return {
        problem: {
          type: problemTypeBase + code,
          title: 'Service unavailable',
          status,
          detail: 'A dependency of the service is unavailable',
          code,
          ...(checks ? { checks } : {}),
        },
        unexpected: false,
      };
    }
    return {
      problem: {
        type: problemTypeBase + code,
        title: exception.name.replace(/Exception$/, '').replace(/([a-z])([A-Z])/g, '$1 $2'),
        status,
        detail: status >= 500 ? 'Internal error' : detail,
        code,
      },
      unexpected: status >= 500,
    };
  }
  // body-parser and friends throw errors with a `status`/`type` (e.g. entity.parse.failed).
  const maybe = exception as { status?: unknown; type?: unknown };
  if (typeof maybe?.status === 'number' && maybe.status >= 400 && maybe.status < 500) {
    const status = maybe.status;
    const code = httpStatusCodes[status] ?? ErrorCode.MalformedRequest;
    return {
      problem: {
        type: problemTypeBase + code,
        title: 'Malformed request',
        status,
        detail:
          maybe.type === 'entity.parse.failed'
            ? 'The request body is not valid JSON'
            : maybe.type === 'entity.too.large'
              ? 'The request body is too large'
              : 'The request could not be read',
        code,
      },
      unexpected: false,
    };
  }
  return {
    problem: {
      type: problemTypeBase + ErrorCode.Internal,
      title: 'Internal error',
      status: 500,
      detail: 'An unexpected error occurred; the request id identifies it in the logs',
      code: ErrorCode.Internal,
    },
    unexpected: true,
  };
}

/** One place where every error becomes RFC 9457 application/problem+json. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemDetails');

  constructor(@Optional() @InjectDataSource() private readonly ds?: DataSource) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request & { id?: string; clientRequestId?: string }>();
    const { problem, unexpected } = toProblem(exception, () => poolSaturated(this.ds));
    problem.instance = req.originalUrl?.split('?')[0];
    if (req.id !== undefined) problem.requestId = String(req.id);
    if (req.clientRequestId !== undefined) problem.clientRequestId = req.clientRequestId;
    if (unexpected) {
      this.logger.error(
        { err: exception, requestId: problem.requestId },
        'unhandled error while serving request',
      );
    } else if (problem.status === 503) {
      // The driver's error code or first words (never values): what made the database unusable.
      const cause =
        pgFields(exception).code ??
        String((exception as { message?: unknown })?.message ?? '').slice(0, 80);
      this.logger.warn(
        { requestId: problem.requestId, code: problem.code, cause },
        problem.detail ?? '',
      );
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    if (problem.status === 503) res.setHeader('Retry-After', '2');
    if (problem.status === 429) {
      const after = typeof problem.retryAfter === 'number' ? problem.retryAfter : 1;
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(after))));
    }
    // Details may quote input or broker text: the shared redactor scrubs every credential shape.
    res
      .status(problem.status)
      .type('application/problem+json')
      .send(JSON.stringify(redactValue(problem)));
  }
}
