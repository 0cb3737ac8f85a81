import { isRec } from './codec';

/** A `federation-upstream-set` parameter: the names of its member upstreams. */
export function encodeUpstreamSet(upstreams: readonly string[]): { upstream: string }[] {
  return upstreams.map((upstream) => ({ upstream }));
}

/** Members without a string `upstream` are dropped. */
export function decodeUpstreamSet(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value
    .map((m) => (isRec(m) && typeof m.upstream === 'string' ? m.upstream : ''))
    .filter(Boolean);
}
