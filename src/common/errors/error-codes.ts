/** Stable machine-readable error codes; `type` in problem+json is derived from them. */
export enum ErrorCode {
  ValidationFailed = 'validation-failed',
  MalformedRequest = 'malformed-request',
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  NotFound = 'not-found',
  RouteNotFound = 'route-not-found',
  MethodNotAllowed = 'method-not-allowed',
  Conflict = 'conflict',
  DuplicateName = 'duplicate-name',
  DependentsExist = 'dependents-exist',
  PolicyConflict = 'policy-conflict',
  UnsupportedByBrokerVersion = 'unsupported-by-broker-version',
  UnsupportedPattern = 'unsupported-pattern',
  ReferenceNotFound = 'reference-not-found',
  PreconditionFailed = 'precondition-failed',
  PayloadTooLarge = 'payload-too-large',
  UnsupportedMediaType = 'unsupported-media-type',
  DatabaseUnavailable = 'database-unavailable',
  BrokerUnavailable = 'broker-unavailable',
  ServiceUnavailable = 'service-unavailable',
  Internal = 'internal-error',
}

export const problemTypeBase = 'https://crossdock.dev/problems/';
