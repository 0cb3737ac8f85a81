/**
 * The kinds of broker objects crossdock manages, how one is addressed, and the shape of a value
 * as the management API stores it. Plain data: codecs, paths and the reconciler share it.
 */

/** Objects crossdock manages on a cluster. */
export type ObjectKind =
  | 'federation-upstream'
  | 'federation-upstream-set'
  | 'shovel'
  | 'policy'
  | 'exchange'
  | 'queue'
  | 'binding';

export const objectKinds: readonly ObjectKind[] = [
  'exchange',
  'queue',
  'binding',
  'federation-upstream',
  'federation-upstream-set',
  'policy',
  'shovel',
];

/** Every name crossdock generates starts with this (bindings, exchanges and queues excepted: their names are the user's). */
export const managedPrefix = 'crossdock.';

export interface ObjectKey {
  kind: ObjectKind;
  vhost: string;
  /**
   * Parameters, policies, exchanges, queues: the object name. Bindings:
   * `<source>\u0000<destination type e|q>\u0000<destination>\u0000<routing key>`.
   */
  name: string;
}

/**
 * The body crossdock would PUT, in the broker's own shape:
 * - parameters (upstream, upstream set, shovel): the `value` (object, or array for sets);
 * - policy: `{ pattern, definition, priority, 'apply-to' }`;
 * - exchange: `{ type, durable, auto_delete, internal, arguments }`;
 * - queue: `{ durable, auto_delete, arguments }`;
 * - binding: `{ arguments }` (source, destination and key are in the name).
 */
export type BrokerValue = Record<string, unknown> | unknown[];
