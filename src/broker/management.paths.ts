import type { HttpMethod } from './management.types';

/**
 * Encodes one path segment (vhost, object name). `/` becomes `%2F`. `.` and `..` cannot be
 * addressed at all: WHATWG URL parsing (fetch) collapses them, encoded or not, into a parent path.
 */
export function encodeSegment(value: string | number): string {
  const s = String(value);
  if (s === '' || s === '.' || s === '..') {
    throw new RangeError(`cannot address ${JSON.stringify(s)} in a management API path`);
  }
  return encodeURIComponent(s);
}

/** Tagged template for API paths: every interpolated value is one encoded segment. */
export function apiPath(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  return strings.reduce(
    (acc, part, i) => acc + part + (i < values.length ? encodeSegment(values[i]) : ''),
    '',
  );
}

/** What a request reads: one object (or a write's answer), or a bulk listing. */
export type ResponseKind = 'object' | 'listing';

/**
 * Largest answer read per kind, bytes. Listings are read with `columns=` and `disable_stats`
 * where it matters, so 16 MiB is a cluster with tens of thousands of objects; anything bigger
 * is refused (BrokerProtocolError `too-large`) before it is buffered in full.
 */
export const defaultResponseLimits: Readonly<Record<ResponseKind, number>> = {
  object: 2 * 1024 * 1024,
  listing: 16 * 1024 * 1024,
};

const listingCollections = new Set([
  'queues',
  'exchanges',
  'bindings',
  'policies',
  'operator-policies',
  'parameters',
  'global-parameters',
  'federation-links',
  'shovels',
  'connections',
  'channels',
  'consumers',
  'vhosts',
  'users',
  'permissions',
  'nodes',
  'definitions',
]);

/** The kind of a request, from its method and path: only GETs of collections are listings. */
export function responseKind(method: HttpMethod, path: string): ResponseKind {
  if (method !== 'GET') return 'object';
  const [collection, ...rest] = path.split('?')[0].split('/').filter(Boolean).slice(1);
  if (!listingCollections.has(collection)) return 'object';
  switch (collection) {
    case 'definitions':
    case 'federation-links':
    case 'shovels':
    case 'connections':
      return 'listing';
    case 'parameters':
      return rest.length <= 2 ? 'listing' : 'object';
    case 'bindings':
      return rest.length <= 5 ? 'listing' : 'object';
    case 'users':
      return rest.length === 0 || rest[1] === 'permissions' ? 'listing' : 'object';
    default:
      return rest.length <= 1 ? 'listing' : 'object';
  }
}
