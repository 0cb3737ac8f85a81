import { canonicalJson } from '../audit/canonical-json';
import { parseOverview } from '../broker-topology/broker-facts';
import { parseVersion } from '../broker-topology/broker-versions';
import { BrokerProtocolError } from '../broker/management.errors';
import type { ManagementResponse } from '../broker/management.types';
import type { ObjectKind, ObservedObject, ObservedState } from './broker-state';
import {
  observationListings,
  type BrokerClient,
  type ListingRequest,
  managementPaths,
} from '../broker-topology/broker-paths';
import { redactBrokerValue } from './canonical';
import {
  expectItem,
  field,
  ListingShapeError,
  parseListingItem,
  typeName,
} from '../broker-topology/listings';

export { ListingShapeError };

/**
 * Reads what a cluster holds in the managed vhosts with a constant number of bulk GETs
 * (`observationListings`: 7 today), whatever the object count. Every listing must parse
 * completely or the whole observation fails with a BrokerProtocolError: a partial observation
 * would look like missing objects and make the differ create or delete things.
 *
 * The returned values contain upstream/shovel URIs with passwords in clear (that is what
 * `GET /api/parameters` returns and what the differ needs to compare); pass the state through
 * `redactObserved` before logging or returning it anywhere.
 */
export async function observeBrokerState(
  client: BrokerClient,
  vhosts: readonly string[],
  opts: { version?: boolean } = {},
): Promise<ObservedState> {
  const managed = new Set(vhosts);
  if (managed.size === 0) return { objects: [], requests: 0 };
  const version = opts.version ? observeVersion(client) : Promise.resolve(undefined);
  // One Promise.all over every GET: the first failure fails the observation, and no other
  // request's rejection is left unhandled.
  const [brokerVersion, ...parts] = await Promise.all([
    version,
    ...observationListings.map(async (listing) => {
      const res = await client.send<unknown>('GET', listing.path, undefined, {
        query: listing.query,
      });
      try {
        return parseListing(listing.kind, res.body, managed);
      } catch (err) {
        if (err instanceof ListingShapeError) throw shapeError(listing, res, err.message);
        throw err;
      }
    }),
  ]);
  const state: ObservedState = { objects: parts.flat(), requests: observationListings.length };
  if (brokerVersion !== undefined) {
    state.brokerVersion = brokerVersion;
    state.requests += 1;
  }
  return state;
}

/** The RabbitMQ version (one cheap overview GET): decides which version-gated keys are sent. */
async function observeVersion(client: BrokerClient): Promise<string> {
  const path = managementPaths.overview;
  const res = await client.send<unknown>('GET', path, undefined, {
    query: { columns: 'rabbitmq_version', disable_stats: true },
  });
  const overview = parseOverview(res.body);
  const v = overview.ok ? overview.value.rabbitmqVersion : undefined;
  if (typeof v === 'string' && parseVersion(v)) return v;
  throw new BrokerProtocolError(
    'GET',
    path,
    res.node,
    'wrong-shape',
    `overview: expected a "rabbitmq_version" like 3.10.8 (got ${typeName(v)})`,
    res.attempts,
    res.status,
  );
}

/** Deep copy safe to log or return (credentials stripped from every URI). */
export function redactObserved(state: ObservedState): ObservedState {
  return {
    ...state,
    objects: state.objects.map((o) => ({ ...o, value: redactBrokerValue(o.value) })),
  };
}

/** A listing that does not have the documented shape. Never carries payload values. */
function shapeError(
  listing: ListingRequest,
  res: ManagementResponse<unknown>,
  detail: string,
): BrokerProtocolError {
  return new BrokerProtocolError(
    'GET',
    listing.path,
    res.node,
    'wrong-shape',
    `${listing.kind} listing: ${detail}`,
    res.attempts,
    res.status,
  );
}

/**
 * Pure: one listing's body -> observed objects of the managed vhosts. Throws ListingShapeError
 * when the body or any item (managed vhost or not) lacks a field of the documented type.
 */
export function parseListing(
  kind: ObjectKind,
  body: unknown,
  vhosts: ReadonlySet<string>,
): ObservedObject[] {
  if (!Array.isArray(body)) throw new ListingShapeError(`expected an array, got ${typeName(body)}`);
  const out: ObservedObject[] = [];
  const names = new Set<string>();
  const exact = new Set<string>();
  body.forEach((raw: unknown, index) => {
    const item = expectItem(raw, index);
    const vhost = field(item, 'vhost', 'string', index);
    const obj = parseListingItem(kind, item, index);
    if (!obj || !vhosts.has(vhost)) return;
    // An identical repeat is harmless; one name with two values means we cannot tell which one
    // the broker uses. Bindings legitimately repeat a name: arguments are part of their identity.
    const name = `${vhost}\u0001${obj.name}`;
    const full = `${name}\u0001${canonicalJson(obj.value)}`;
    if (exact.has(full)) return;
    if (kind !== 'binding' && names.has(name)) {
      throw new ListingShapeError(`item ${index} repeats a name with a different value`);
    }
    names.add(name);
    exact.add(full);
    out.push({ kind, vhost, name: obj.name, value: obj.value });
  });
  return out;
}
