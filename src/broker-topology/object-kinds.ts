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
  | 'binding'
  | AccessKind;

/**
 * Access objects: the probe vhost, the link users and vhost permissions. Their names are
 * crossdock's own (the probe vhost, LINK_USER_NAME and its `-b` slot, its own management user's
 * permission on the probe vhost), so they are not ledger rows; a pass observes exactly these.
 */
export type AccessKind = 'vhost' | 'user' | 'permission';
export const accessKinds: readonly AccessKind[] = ['vhost', 'user', 'permission'];
export const isAccessKind = (kind: ObjectKind): kind is AccessKind =>
  kind === 'vhost' || kind === 'user' || kind === 'permission';

/**
 * In apply order: a user and a vhost before the permission that names them, before objects (the
 * link user first: other clusters' links may already be logging in with its password).
 */
export const objectKinds: readonly ObjectKind[] = [
  'user',
  'vhost',
  'permission',
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
   * Vhosts: the vhost's name (also in `vhost`). Users: the username (`vhost` empty).
   * Permissions: the username (in `vhost`).
   */
  name: string;
}

/**
 * The body crossdock would PUT, in the broker's own shape:
 * - parameters (upstream, upstream set, shovel): the `value` (object, or array for sets);
 * - policy: `{ pattern, definition, priority, 'apply-to' }`;
 * - exchange: `{ type, durable, auto_delete, internal, arguments }`;
 * - queue: `{ durable, auto_delete, arguments }`;
 * - binding: `{ arguments }` (source, destination and key are in the name);
 * - vhost: `{ description }`; user: `{ password_hash, hashing_algorithm, tags }` (never shown:
 *   redacted in plans, runs and audit); permission: `{ configure, write, read }`.
 */
export type BrokerValue = Record<string, unknown> | unknown[];

export interface DesiredObject extends ObjectKey {
  value: BrokerValue;
  /** Which registry row wants it: `link:<uuid>`, `shovel:<uuid>`, `policy:<uuid>`, `cluster:<uuid>`. */
  owner: string;
  /**
   * Exchanges/queues/bindings that links need but users may also declare: create when missing,
   * never update or delete (their arguments are the user's business), report mismatches.
   */
  ensureOnly?: boolean;
}

export interface DesiredState {
  clusterId: string;
  /** Only these vhosts are observed and touched. */
  vhosts: string[];
  objects: DesiredObject[];
  /** Compiler notes (e.g. an exchange-federation link with nothing bound downstream). */
  warnings: string[];
}

export interface ObservedObject extends ObjectKey {
  value: BrokerValue;
}

export interface ObservedState {
  /** Objects of every kind in the managed vhosts, managed or not. */
  objects: ObservedObject[];
  /** HTTP requests the observation took (constant per cluster, independent of object count). */
  requests: number;
  /** The RabbitMQ version, when the observation asked for it. */
  brokerVersion?: string;
}
