import { BrokerProtocolError } from './management.errors';
import type { ManagementAlarm, ManagementResponse } from './management.types';

/**
 * An answer must have the shape the caller relies on, or it is a BrokerProtocolError
 * (`wrong-shape`), never a TypeError later: for every caller that reads broker listings.
 */
export function expectShape<T>(
  res: ManagementResponse<unknown>,
  guard: (body: unknown) => body is T,
  expected: string,
): ManagementResponse<T> {
  if (guard(res.body)) return { ...res, body: res.body };
  throw new BrokerProtocolError(
    res.method,
    res.path,
    res.node,
    'wrong-shape',
    `expected ${expected}`,
    res.attempts,
    res.status,
  );
}

/** A list of objects whose `fields` are strings when present (`required` ones always). */
export function isRecordList(
  required: readonly string[],
  optional: readonly string[] = [],
): (b: unknown) => b is Record<string, unknown>[] {
  return (b: unknown): b is Record<string, unknown>[] =>
    Array.isArray(b) &&
    b.every(
      (x: unknown) =>
        isObject(x) &&
        required.every((f) => typeof x[f] === 'string') &&
        optional.every((f) => x[f] === undefined || x[f] === null || typeof x[f] === 'string'),
    );
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isAlarm(a: unknown): a is ManagementAlarm {
  return isObject(a) && typeof a.node === 'string' && typeof a.resource === 'string';
}
