import { canonicalJson } from './canonical-json';

export interface FieldChange {
  path: string;
  before?: unknown;
  after?: unknown;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Field-level differences between two JSON documents; arrays compare as whole values. */
export function fieldDiff(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => fieldDiff(before[k], after[k], path ? `${path}.${k}` : k));
  }
  if (canonicalJson(before) === canonicalJson(after)) return [];
  const change: FieldChange = { path: path || '$' };
  if (before !== undefined) change.before = before;
  if (after !== undefined) change.after = after;
  return [change];
}

/** Bookkeeping fields that change on every write and would only add noise to a diff. */
export const diffIgnored = new Set(['version', 'updatedAt', 'createdAt']);

export function compactDiff(before: unknown, after: unknown): FieldChange[] {
  return fieldDiff(before, after).filter((c) => !diffIgnored.has(c.path));
}
