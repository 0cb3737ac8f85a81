import { ErrorCode } from './error-codes';

export interface FieldError {
  /** Dotted path of the offending field, e.g. `nodes.0.amqpPort`, or `query.limit`. */
  field: string;
  message: string;
}

/** An expected failure with a stable code; mapped to problem+json by ProblemDetailsFilter. */
export class DomainException extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors: FieldError[] = [],
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail ?? title);
    this.name = 'DomainException';
  }

  static notFound(resource: string, id: string): DomainException {
    return new DomainException(
      ErrorCode.NotFound,
      404,
      'Resource not found',
      `${resource} ${id} does not exist`,
    );
  }

  static validation(errors: FieldError[], detail = 'The request is invalid'): DomainException {
    return new DomainException(
      ErrorCode.ValidationFailed,
      400,
      'Validation failed',
      detail,
      errors,
    );
  }

  /**
   * A reference in the request body (a siteId, a clusterId) names nothing: 409, the same answer
   * the database's foreign keys give, with the field named. A missing resource in the URL is 404.
   */
  static referenceNotFound(field: string, resource: string, id?: string): DomainException {
    return new DomainException(
      ErrorCode.ReferenceNotFound,
      409,
      'Conflict',
      id ? `${resource} ${id} does not exist` : `The referenced ${resource} does not exist`,
      [{ field, message: `no such ${resource}` }],
    );
  }

  static conflict(
    code: ErrorCode,
    detail: string,
    extensions: Record<string, unknown> = {},
  ): DomainException {
    return new DomainException(code, 409, 'Conflict', detail, [], extensions);
  }

  static preconditionFailed(detail: string): DomainException {
    return new DomainException(ErrorCode.PreconditionFailed, 412, 'Precondition failed', detail);
  }
}
