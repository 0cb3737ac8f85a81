import { canonicalJson } from '../audit/canonical-json';
import { parseVersion } from '../broker-topology/broker-versions';
import { BrokerProtocolError } from '../broker/management.errors';
import type { ManagementResponse } from '../broker/management.types';
import type { BrokerValue, ObjectKind, ObservedObject, ObservedState } from './broker-state';
import {
  bindingName,
  isBuiltinExchange,
  observationListings,
  type BrokerClient,
  type ListingRequest,
  managementPaths,
} from '../broker-topology/broker-paths';
import { redactBrokerValue } from './canonical';

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
  const v = isRecord(res.body) ? res.body.rabbitmq_version : undefined;
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
export class ListingShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListingShapeError';
  }
}

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

type Item = Record<string, unknown>;

function isRecord(v: unknown): v is Item {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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
    const obj = parseItem(kind, item, index);
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

function parseItem(
  kind: ObjectKind,
  item: Item,
  index: number,
): { name: string; value: BrokerValue } | undefined {
  switch (kind) {
    case 'federation-upstream':
    case 'shovel': {
      const name = field(item, 'name', 'string', index);
      if (item.component !== undefined && item.component !== kind) {
        throw new ListingShapeError(`item ${index} belongs to another component`);
      }
      return { name, value: field(item, 'value', 'object', index) };
    }
    case 'federation-upstream-set': {
      const name = field(item, 'name', 'string', index);
      if (item.component !== undefined && item.component !== kind) {
        throw new ListingShapeError(`item ${index} belongs to another component`);
      }
      const value = field(item, 'value', 'array', index);
      value.forEach((m: unknown) => {
        if (!isRecord(m) || typeof m.upstream !== 'string') {
          throw new ListingShapeError(`item ${index} has a set member without an upstream name`);
        }
      });
      return { name, value };
    }
    case 'policy':
      return {
        name: field(item, 'name', 'string', index),
        value: {
          pattern: field(item, 'pattern', 'string', index),
          definition: field(item, 'definition', 'object', index),
          priority: field(item, 'priority', 'number', index),
          'apply-to': field(item, 'apply-to', 'string', index),
        },
      };
    case 'exchange': {
      const name = field(item, 'name', 'string', index);
      const value = {
        type: field(item, 'type', 'string', index),
        durable: field(item, 'durable', 'boolean', index),
        auto_delete: field(item, 'auto_delete', 'boolean', index),
        internal: field(item, 'internal', 'boolean', index),
        arguments: argumentsField(item, index),
      };
      return isBuiltinExchange(name) ? undefined : { name, value };
    }
    case 'queue':
      return {
        name: field(item, 'name', 'string', index),
        value: {
          durable: field(item, 'durable', 'boolean', index),
          auto_delete: field(item, 'auto_delete', 'boolean', index),
          arguments: argumentsField(item, index),
        },
      };
    case 'binding': {
      const source = field(item, 'source', 'string', index);
      const destination = field(item, 'destination', 'string', index);
      const destType = field(item, 'destination_type', 'string', index);
      const routingKey = field(item, 'routing_key', 'string', index);
      const args = argumentsField(item, index);
      if (destType !== 'queue' && destType !== 'exchange') {
        throw new ListingShapeError(`item ${index} has an unknown destination_type`);
      }
      // The default exchange's implicit bindings (one per queue) cannot be managed.
      if (source === '') return undefined;
      const name = bindingName({
        source,
        destinationType: destType === 'queue' ? 'q' : 'e',
        destination,
        routingKey,
      });
      return { name, value: { arguments: args } };
    }
  }
}

type FieldType = 'string' | 'number' | 'boolean' | 'object' | 'array';
type FieldValue<T extends FieldType> = T extends 'string'
  ? string
  : T extends 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'object'
        ? Item
        : unknown[];

function field<T extends FieldType>(
  item: Item,
  name: string,
  type: T,
  index: number,
): FieldValue<T> {
  const v = item[name];
  const ok =
    type === 'object'
      ? isRecord(v)
      : type === 'array'
        ? Array.isArray(v)
        : type === 'number'
          ? typeof v === 'number' && Number.isFinite(v)
          : typeof v === type;
  if (!ok)
    throw new ListingShapeError(`item ${index} lacks ${type} "${name}" (got ${typeName(v)})`);
  return v as FieldValue<T>;
}

/** Erlang's JSON encoder may write an empty argument table as `[]`. */
function argumentsField(item: Item, index: number): Item {
  const v = item.arguments;
  if (Array.isArray(v) && v.length === 0) return {};
  return field(item, 'arguments', 'object', index);
}

function expectItem(raw: unknown, index: number): Item {
  if (!isRecord(raw))
    throw new ListingShapeError(`item ${index} is ${typeName(raw)}, not an object`);
  return raw;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}
