import { ErrorCode, problemTypeBase } from '../errors/error-codes';
import type { FieldErrorDto } from './problem-details.dto';

interface ProblemExample {
  status: number;
  title: string;
  detail: string;
  errors?: FieldErrorDto[];
  extra?: Record<string, unknown>;
}

/** One example per error code: what a client sees for it. */
export const problemCatalogue: Record<ErrorCode, ProblemExample> = {
  [ErrorCode.ValidationFailed]: {
    status: 400,
    title: 'Validation failed',
    detail: 'The request is invalid',
    errors: [{ field: 'expectedRttMs', message: 'expectedRttMs must be an integer number' }],
  },
  [ErrorCode.MalformedRequest]: {
    status: 400,
    title: 'Malformed request',
    detail: 'The request body is not valid JSON',
  },
  [ErrorCode.Unauthenticated]: {
    status: 401,
    title: 'Unauthenticated',
    detail: 'The API token is unknown, revoked or expired',
  },
  [ErrorCode.Forbidden]: {
    status: 403,
    title: 'Forbidden',
    detail: 'This action needs the admin role',
  },
  [ErrorCode.NotFound]: {
    status: 404,
    title: 'Resource not found',
    detail: 'site 0b7c3c1e-3f8e-4c52-9a4e-2d1f6c0e8a11 does not exist',
  },
  [ErrorCode.RouteNotFound]: { status: 404, title: 'Not Found', detail: 'No such route' },
  [ErrorCode.MethodNotAllowed]: {
    status: 405,
    title: 'Method Not Allowed',
    detail: 'Method not allowed',
  },
  [ErrorCode.Conflict]: {
    status: 409,
    title: 'Conflict',
    detail: 'The request conflicts with the current state of the resource',
  },
  [ErrorCode.DuplicateName]: {
    status: 409,
    title: 'Conflict',
    detail: 'A resource with this name already exists',
    errors: [{ field: 'name', message: 'already in use' }],
  },
  [ErrorCode.DependentsExist]: {
    status: 409,
    title: 'Conflict',
    detail: 'The site still has clusters; delete them first',
  },
  [ErrorCode.PolicyConflict]: {
    status: 409,
    title: 'Conflict',
    detail: 'Another policy with the same priority matches the same objects',
    extra: { conflicts: [] },
  },
  [ErrorCode.ReferenceNotFound]: {
    status: 409,
    title: 'Conflict',
    detail: 'cluster 5d2e8f4a-9c1b-4e7d-8a3f-6b0c2d1e4f57 does not exist',
    errors: [{ field: 'upstream.clusterId', message: 'no such cluster' }],
  },
  [ErrorCode.CredentialsRebindRequired]: {
    status: 409,
    title: 'Conflict',
    detail:
      'Changing the management endpoint needs the credentials again (PUT /clusters/{id}/credentials)',
  },
  [ErrorCode.ConfirmationRequired]: {
    status: 409,
    title: 'Conflict',
    detail: 'The change touches 12 queues on 3 clusters: send "confirm": true to proceed',
  },
  [ErrorCode.PreconditionFailed]: {
    status: 412,
    title: 'Precondition failed',
    detail: 'The resource is at version 4; If-Match named version 3',
  },
  [ErrorCode.PayloadTooLarge]: {
    status: 413,
    title: 'Malformed request',
    detail: 'The request body is too large',
  },
  [ErrorCode.UnsupportedMediaType]: {
    status: 415,
    title: 'Unsupported media type',
    detail: 'The request body must be JSON (Content-Type: application/json)',
  },
  [ErrorCode.UnsupportedByBrokerVersion]: {
    status: 422,
    title: 'Unsupported by the broker version',
    detail: 'settings.queueType needs RabbitMQ 3.13 or later; the cluster runs 3.12.14',
  },
  [ErrorCode.UnsupportedPattern]: {
    status: 422,
    title: 'Unsupported pattern',
    detail: 'pattern: backreferences are not supported',
    errors: [{ field: 'pattern', message: 'backreferences are not supported' }],
  },
  [ErrorCode.RateLimited]: {
    status: 429,
    title: 'Too many requests',
    detail:
      'This token sent more requests than its rate limit allows; retry after the delay in Retry-After',
    extra: { retryAfter: 1 },
  },
  [ErrorCode.Overloaded]: {
    status: 429,
    title: 'Too many requests',
    detail: 'Too many writes are waiting; retry after the delay in Retry-After',
    extra: { retryAfter: 1 },
  },
  [ErrorCode.DatabaseUnavailable]: {
    status: 503,
    title: 'Service unavailable',
    detail: 'The database is unavailable; retry later',
  },
  [ErrorCode.BrokerUnavailable]: {
    status: 503,
    title: 'Broker unreachable',
    detail: 'GET /api/overview: no management node answered',
  },
  [ErrorCode.ServiceUnavailable]: {
    status: 503,
    title: 'Service unavailable',
    detail: 'A dependency of the service is unavailable',
  },
  [ErrorCode.Internal]: {
    status: 500,
    title: 'Internal error',
    detail: 'An unexpected error occurred; the request id identifies it in the logs',
  },
};

/** What a status stands for when an operation lists it by number. */
export const problemsByStatus: Record<number, { codes: ErrorCode[]; description: string }> = {
  400: {
    codes: [ErrorCode.ValidationFailed, ErrorCode.MalformedRequest],
    description: 'The request is invalid: `errors` names each offending field',
  },
  401: {
    codes: [ErrorCode.Unauthenticated],
    description: 'No API token, or one that is unknown, revoked or expired',
  },
  403: {
    codes: [ErrorCode.Forbidden],
    description: "The token's role is below the one this operation needs",
  },
  404: {
    codes: [ErrorCode.NotFound],
    description: 'The resource named in the path does not exist',
  },
  409: { codes: [ErrorCode.Conflict], description: 'Conflicts with the current state' },
  412: {
    codes: [ErrorCode.PreconditionFailed],
    description: 'If-Match named a version the resource is no longer at',
  },
  413: { codes: [ErrorCode.PayloadTooLarge], description: 'The request body is too large' },
  415: { codes: [ErrorCode.UnsupportedMediaType], description: 'The request body is not JSON' },
  422: {
    codes: [ErrorCode.UnsupportedByBrokerVersion],
    description: "The cluster's RabbitMQ version cannot do what the request asks",
  },
  429: {
    codes: [ErrorCode.RateLimited, ErrorCode.Overloaded],
    description: 'Rate limit reached or the service is saturated; retry after Retry-After',
  },
  502: {
    codes: [ErrorCode.BrokerUnavailable],
    description: 'A broker answered something crossdock cannot use',
  },
  503: {
    codes: [ErrorCode.DatabaseUnavailable],
    description: 'The database is unavailable; retry after Retry-After',
  },
};

/** Descriptions of statuses that an operation lists by error code. */
export const statusDescription: Record<number, string> = {
  400: problemsByStatus[400].description,
  409: 'Conflicts with the current state; `code` tells which kind',
  422: 'The request cannot be carried out on this cluster',
  503: 'A dependency (database or broker) is unavailable; retry after Retry-After',
};

/** The example body of one error code. */
export function problemExample(code: ErrorCode): Record<string, unknown> {
  const e = problemCatalogue[code];
  return {
    type: problemTypeBase + code,
    title: e.title,
    status: e.status,
    detail: e.detail,
    code,
    ...(e.errors ? { errors: e.errors } : {}),
    ...e.extra,
    requestId: 'req-6f1d2a',
  };
}
