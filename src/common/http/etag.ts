import { DomainException } from '../errors/domain.exception';

/** Strong ETag derived from the row version: any committed change bumps it. */
export function etagOf(version: number): string {
  return `"v${version}"`;
}

/**
 * Parses If-Match into the version the client saw. `undefined` = no precondition. A header
 * that names no version of ours can never match, so it fails as 412 like a stale one.
 */
export function expectedVersion(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"v(\d{1,9})"\s*$/.exec(ifMatch);
  if (!m)
    throw DomainException.preconditionFailed('If-Match does not name a version of this resource');
  return Number(m[1]);
}
