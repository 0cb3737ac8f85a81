import { QueryFailedError } from 'typeorm';
import { ErrorCode } from './error-codes';
import { DomainException } from './domain.exception';

interface PgErrorFields {
  code?: string;
  constraint?: string;
  detail?: string;
  table?: string;
}

/** Connection-level failures: the database is unreachable, restarting or too slow. */
const unavailableCodes = new Set([
  '57P01',
  '57P02',
  '57P03',
  '57014',
  '08000',
  '08001',
  '08003',
  '08006',
  '53300',
]);
const unavailableMessages = [
  /ECONNREFUSED/,
  /ECONNRESET/,
  /ETIMEDOUT/,
  /EPIPE/,
  /timeout exceeded when trying to connect/i,
  /Connection terminated/i,
  /connection timeout/i,
  /Client has encountered a connection error/i,
  /the database system is (starting up|shutting down)/i,
  /Query read timeout/i,
  /canceling statement due to statement timeout/i,
];

export function pgFields(err: unknown): PgErrorFields {
  const e = err as { driverError?: PgErrorFields } & PgErrorFields;
  return e.driverError ?? e;
}

export function isDatabaseUnavailable(err: unknown): boolean {
  // Duck-typed on purpose: socket errors come from Node's own realm (instanceof fails under jest).
  if (typeof err !== 'object' || err === null) return false;
  const { code } = pgFields(err);
  if (code && unavailableCodes.has(code)) return true;
  const e = err as { message?: unknown; code?: unknown };
  const text = `${typeof e.message === 'string' ? e.message : ''} ${typeof e.code === 'string' ? e.code : ''}`;
  return unavailableMessages.some((re) => re.test(text));
}

/** Human names for constraints, so a 409 says what clashed without echoing values. */
const constraintMessages: Record<string, string> = {};

/**
 * A foreign key fails for one of two causes, and the answer says which: a write names a row that
 * does not exist (`missing`, about the request `field`), or a delete would orphan rows that still
 * point at it (`dependents`).
 */
export interface ForeignKeyMessages {
  field: string;
  missing: string;
  dependents: string;
}
const foreignKeyMessages: Record<string, ForeignKeyMessages> = {};

export function registerConstraintMessage(constraint: string, message: string): void {
  constraintMessages[constraint] = message;
}

export function registerForeignKey(constraint: string, messages: ForeignKeyMessages): void {
  foreignKeyMessages[constraint] = messages;
}

/**
 * Maps unique (23505) and foreign-key (23503) violations raised by the database itself to 409s:
 * the database is the arbiter, never a check-then-insert in the service.
 */
export function mapPostgresError(err: unknown): DomainException | undefined {
  if (!(err instanceof QueryFailedError)) return undefined;
  const { code, constraint } = pgFields(err);
  const named = constraint ? constraintMessages[constraint] : undefined;
  if (code === '23505') {
    return DomainException.conflict(
      ErrorCode.DuplicateName,
      named ?? 'A resource with the same unique name already exists',
      { constraint },
    );
  }
  if (code === '23503') {
    const isDelete = /update or delete/.test(err.message);
    const fk = constraint ? foreignKeyMessages[constraint] : undefined;
    if (isDelete) {
      return DomainException.conflict(
        ErrorCode.DependentsExist,
        fk?.dependents ?? named ?? 'Other resources still depend on this one',
        { constraint },
      );
    }
    return new DomainException(
      ErrorCode.ReferenceNotFound,
      409,
      'Conflict',
      fk?.missing ?? named ?? 'A referenced resource does not exist',
      fk ? [{ field: fk.field, message: fk.missing }] : [],
      { constraint },
    );
  }
  if (code === '23514') {
    // Check constraints and the deferred registry rules (e.g. a cluster keeps a disc node).
    return DomainException.conflict(
      ErrorCode.Conflict,
      named ?? 'The change breaks a rule of the registry',
      { constraint },
    );
  }
  if (code === '23502') {
    return DomainException.validation([], 'A required value is missing (null is not allowed here)');
  }
  if (code === '22021' || code === '22P05') {
    return DomainException.validation(
      [],
      'A text value contains characters the database cannot store (e.g. NUL)',
    );
  }
  if (code === '22P02' || code === '22003' || code === '22007' || code === '22008') {
    return DomainException.validation([], 'A value has an invalid format or is out of range');
  }
  return undefined;
}
