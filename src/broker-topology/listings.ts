import { bindingName, isBuiltinExchange } from './broker-paths';
import type { BrokerValue, ObjectKind } from './broker-objects';

/**
 * How each kind's management API listing row becomes the stored value crossdock compares
 * (the body it would PUT, in the broker's own shape). Strict: a row lacking a field of the
 * documented type throws ListingShapeError, so a partial answer never reads as missing objects.
 */

export class ListingShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListingShapeError';
  }
}

export type ListingItem = Record<string, unknown>;

function isRecord(v: unknown): v is ListingItem {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One row -> name and value; undefined for rows crossdock never manages (built-ins). */
export function parseListingItem(
  kind: ObjectKind,
  item: ListingItem,
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
        ? ListingItem
        : unknown[];

export function field<T extends FieldType>(
  item: ListingItem,
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
function argumentsField(item: ListingItem, index: number): ListingItem {
  const v = item.arguments;
  if (Array.isArray(v) && v.length === 0) return {};
  return field(item, 'arguments', 'object', index);
}

export function expectItem(raw: unknown, index: number): ListingItem {
  if (!isRecord(raw))
    throw new ListingShapeError(`item ${index} is ${typeName(raw)}, not an object`);
  return raw;
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}
