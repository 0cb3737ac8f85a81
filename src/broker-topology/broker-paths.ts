import type { ManagementClient } from '../broker/management-client';
import { apiPath } from '../broker/management.paths';
import type { HttpMethod, RequestOptions } from '../broker/management.types';
import type { AccessKind, BrokerValue, ObjectKey, ObjectKind } from './object-kinds';

/**
 * Where each kind of object lives on the management API (3.10), and the names the broker itself
 * generates. Pure: no I/O here.
 */

/** The part of the management client observe/apply use, so tests can hand in a fake. */
export type BrokerClient = Pick<ManagementClient, 'send'>;

export type ParameterKind = Extract<
  ObjectKind,
  'federation-upstream' | 'federation-upstream-set' | 'shovel'
>;

export function isParameterKind(kind: ObjectKind): kind is ParameterKind {
  return kind === 'federation-upstream' || kind === 'federation-upstream-set' || kind === 'shovel';
}

/**
 * How an object removes itself on the broker by design (trap 3.19), or undefined when it never
 * does. `once`: it finishes and is gone for good (a shovel with a numeric or `queue-length`
 * `src-delete-after`): its disappearance is a completion, never drift, and nothing re-creates it.
 * `transient`: the broker drops it when it falls idle (an auto-delete exchange or queue, a queue
 * with `x-expires`): not drift either, re-created only when still wanted.
 */
export interface SelfDeletion {
  mode: 'once' | 'transient';
  /** Why, in the broker's terms (for findings and the audit trail). */
  reason: string;
}

export function selfDeletion(kind: ObjectKind, value: unknown): SelfDeletion | undefined {
  if (!isRecord(value)) return undefined;
  if (kind === 'shovel') {
    const after = value['src-delete-after'];
    if (typeof after === 'number' && after > 0)
      return {
        mode: 'once',
        reason: `src-delete-after ${after}: removed after moving ${after} message(s)`,
      };
    if (after === 'queue-length')
      return {
        mode: 'once',
        reason: 'src-delete-after queue-length: removed after moving what its queue held at start',
      };
    return undefined;
  }
  if ((kind === 'queue' || kind === 'exchange') && value.auto_delete === true)
    return { mode: 'transient', reason: `auto-delete ${kind}: removed when its last user left` };
  if (kind === 'queue' && isRecord(value.arguments) && value.arguments['x-expires'] !== undefined)
    return { mode: 'transient', reason: 'queue with x-expires: removed after being unused' };
  return undefined;
}

/** Stable map key of an object (kind, vhost, name). */
export function objectId(key: ObjectKey): string {
  return `${key.kind}\u0001${key.vhost}\u0001${key.name}`;
}

export function describeKey(key: ObjectKey): string {
  if (key.kind === 'binding') {
    const b = parseBindingName(key.name);
    const dest = `${b.destinationType === 'q' ? 'queue' : 'exchange'} ${JSON.stringify(b.destination)}`;
    return `binding ${JSON.stringify(b.source)} -> ${dest} key ${JSON.stringify(b.routingKey)} in vhost ${JSON.stringify(key.vhost)}`;
  }
  if (key.kind === 'vhost') return `vhost ${JSON.stringify(key.name)}`;
  if (key.kind === 'user') return `user ${JSON.stringify(key.name)}`;
  if (key.kind === 'permission')
    return `permissions of user ${JSON.stringify(key.name)} in vhost ${JSON.stringify(key.vhost)}`;
  return `${key.kind} ${JSON.stringify(key.name)} in vhost ${JSON.stringify(key.vhost)}`;
}

/** The default exchange and the `amq.*` ones exist in every vhost and cannot be declared. */
export function isBuiltinExchange(name: string): boolean {
  return name === '' || name.startsWith('amq.');
}

export interface BindingParts {
  source: string;
  destinationType: 'e' | 'q';
  destination: string;
  routingKey: string;
}

/**
 * The binding's ObjectKey name: the JSON text of `[source, "e"|"q", destination, routing key]`.
 * Unambiguous whatever the names hold, and storable as it is (Postgres text and jsonb refuse NUL),
 * so a binding can sit in the ownership ledger, a run record and the audit trail.
 */
export function bindingName(parts: BindingParts): string {
  return JSON.stringify([parts.source, parts.destinationType, parts.destination, parts.routingKey]);
}

export function parseBindingName(name: string): BindingParts {
  let parts: unknown;
  try {
    parts = JSON.parse(name);
  } catch {
    parts = undefined;
  }
  if (
    !Array.isArray(parts) ||
    parts.length !== 4 ||
    !parts.every((p) => typeof p === 'string') ||
    (parts[1] !== 'e' && parts[1] !== 'q')
  ) {
    throw new RangeError(`not a binding name: ${JSON.stringify(name)}`);
  }
  const [source, type, destination, routingKey] = parts as [string, 'e' | 'q', string, string];
  return { source, destinationType: type, destination, routingKey };
}

const collection: Record<Exclude<ObjectKind, 'binding' | AccessKind>, string> = {
  'federation-upstream': 'parameters/federation-upstream',
  'federation-upstream-set': 'parameters/federation-upstream-set',
  shovel: 'parameters/shovel',
  policy: 'policies',
  exchange: 'exchanges',
  queue: 'queues',
};

/** GET/PUT/DELETE path of one object (not bindings: see bindingCollectionPath/bindingPath). */
export function objectPath(key: ObjectKey): string {
  if (key.kind === 'binding') {
    throw new RangeError('bindings have no single-object path without a properties key');
  }
  if (key.kind === 'vhost') return apiPath`/api/vhosts/${key.name}`;
  if (key.kind === 'user') return apiPath`/api/users/${key.name}`;
  if (key.kind === 'permission') return apiPath`/api/permissions/${key.vhost}/${key.name}`;
  return `/api/${collection[key.kind]}` + apiPath`/${key.vhost}/${key.name}`;
}

/**
 * `/api/bindings/{vhost}/e/{source}/{e|q}/{destination}`: GET lists every binding between the
 * two (any routing key and arguments), POST `{routing_key, arguments}` creates one (idempotent).
 */
export function bindingCollectionPath(key: ObjectKey): string {
  const b = bindingParts(key);
  return (
    apiPath`/api/bindings/${key.vhost}/e/${b.source}/` +
    `${b.destinationType}/` +
    apiPath`${b.destination}`
  );
}

/**
 * DELETE path of one binding. `propertiesKey` is the opaque `properties_key` of a listing: the
 * routing key quoted, plus `~<hash of the arguments>` when there are arguments (`~` alone for an
 * empty key without arguments). It is already percent-quoted by the broker and must be encoded
 * once more as a path segment (measured on 3.10.8: `a%2Fb%25c` is addressed as `a%252Fb%2525c`).
 */
export function bindingPath(key: ObjectKey, propertiesKey: string): string {
  return bindingCollectionPath(key) + apiPath`/${propertiesKey}`;
}

function bindingParts(key: ObjectKey): BindingParts {
  if (key.kind !== 'binding') throw new RangeError(`${key.kind} is not a binding`);
  return parseBindingName(key.name);
}

export interface WriteRequest {
  method: HttpMethod;
  path: string;
  body: unknown;
}

/** The request that creates or replaces an object with `value` (exactly as given). */
export function writeRequest(key: ObjectKey, value: BrokerValue): WriteRequest {
  if (key.kind === 'binding') {
    const b = bindingParts(key);
    const args = isRecord(value) && isRecord(value.arguments) ? value.arguments : {};
    return {
      method: 'POST',
      path: bindingCollectionPath(key),
      body: { routing_key: b.routingKey, arguments: args },
    };
  }
  return {
    method: 'PUT',
    path: objectPath(key),
    body: isParameterKind(key.kind) ? { value } : value,
  };
}

export interface ListingRequest {
  kind: ObjectKind;
  path: string;
  query?: RequestOptions['query'];
}

/**
 * The cluster-wide listings one observation takes: a constant number of requests whatever the
 * object count. `columns` keeps exchange/queue/binding listings small (the full queue listing
 * carries ~2 KB of statistics per queue); parameters and policies have no statistics.
 */
export const observationListings: readonly ListingRequest[] = [
  { kind: 'federation-upstream', path: '/api/parameters/federation-upstream' },
  { kind: 'federation-upstream-set', path: '/api/parameters/federation-upstream-set' },
  { kind: 'shovel', path: '/api/parameters/shovel' },
  { kind: 'policy', path: '/api/policies' },
  {
    kind: 'exchange',
    path: '/api/exchanges',
    query: {
      disable_stats: true,
      columns: 'vhost,name,type,durable,auto_delete,internal,arguments',
    },
  },
  {
    kind: 'queue',
    path: '/api/queues',
    query: { disable_stats: true, columns: 'vhost,name,durable,auto_delete,arguments' },
  },
  {
    kind: 'binding',
    path: '/api/bindings',
    query: { columns: 'vhost,source,destination,destination_type,routing_key,arguments' },
  },
];

/**
 * One exchange-federation link's upstream queue, as the link on the downstream cluster names
 * it on the upstream cluster (rabbit_federation_exchange_link:upstream_queue_name, 3.10):
 * `federation: <upstream exchange> -> <downstream cluster name>` followed by
 * `:<downstream exchange>` when only the exchange names differ, or
 * `:<downstream vhost>:<downstream exchange>` when the vhosts differ. The internal exchange in
 * front of it has the same name plus ` B`. The name never carries the upstream parameter's name.
 */
export interface FederationQueueRef {
  /** Vhost of the upstream cluster the queue lives in (the vhost of the upstream URI). */
  vhost: string;
  /** Exchange on the upstream cluster (the upstream's `exchange`, else the downstream name). */
  exchange: string;
  /** `cluster_name` of the downstream cluster. */
  downstreamCluster: string;
  downstreamVhost: string;
  downstreamExchange: string;
}

export const federationQueuePrefix = 'federation: ';

export function federationQueueName(ref: FederationQueueRef): string {
  let suffix = '';
  if (ref.downstreamVhost !== ref.vhost) {
    suffix = `:${ref.downstreamVhost}:${ref.downstreamExchange}`;
  } else if (ref.downstreamExchange !== ref.exchange) {
    suffix = `:${ref.downstreamExchange}`;
  }
  return `${federationQueuePrefix}${ref.exchange} -> ${ref.downstreamCluster}${suffix}`;
}

/** The internal `x-federation-upstream` exchange a link declares in front of its upstream queue. */
export function federationExchangeName(queueName: string): string {
  return `${queueName} B`;
}

/**
 * The exchange a `federation: ...` queue copies, when the queue belongs to a link from this
 * upstream vhost to `downstreamCluster`/`downstreamVhost` that federates an exchange under its
 * own name (links naming an upstream exchange are matched by link-cleanup); undefined otherwise. Exact:
 * the candidate is rebuilt with federationQueueName and compared.
 */
export function federatedExchangeOf(
  queueName: string,
  link: Pick<FederationQueueRef, 'vhost' | 'downstreamCluster' | 'downstreamVhost'>,
): string | undefined {
  if (!queueName.startsWith(federationQueuePrefix)) return undefined;
  const rest = queueName.slice(federationQueuePrefix.length);
  const arrow = ` -> ${link.downstreamCluster}`;
  let exchange: string;
  if (link.downstreamVhost === link.vhost) {
    if (!rest.endsWith(arrow)) return undefined;
    exchange = rest.slice(0, rest.length - arrow.length);
  } else {
    // `<x> -> <cluster>:<downstream vhost>:<x>`: the exchange name appears twice.
    const middle = `${arrow}:${link.downstreamVhost}:`;
    const twice = rest.length - middle.length;
    if (twice <= 0 || twice % 2 !== 0) return undefined;
    exchange = rest.slice(0, twice / 2);
  }
  const rebuilt = federationQueueName({ ...link, exchange, downstreamExchange: exchange });
  return exchange.length > 0 && rebuilt === queueName ? exchange : undefined;
}

/**
 * Best-effort reading of a federation queue name (names may contain ` -> ` or `:` themselves,
 * so this is for reports only; matching uses federationQueueName on expected links).
 */
export function parseFederationQueueName(
  name: string,
): { exchange: string; downstream: string } | undefined {
  if (!name.startsWith(federationQueuePrefix)) return undefined;
  const rest = name.slice(federationQueuePrefix.length);
  const arrow = rest.lastIndexOf(' -> ');
  if (arrow < 0) return undefined;
  return { exchange: rest.slice(0, arrow), downstream: rest.slice(arrow + 4) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Restarts one running federation link (3.10 federation_management): `id` is the link's `id`
 * in `GET /api/federation-links` (one per upstream and federated exchange or queue) and `node`
 * the node running it. Other links of the same exchange or queue are not touched.
 */
export function federationLinkRestartPath(vhost: string, id: string, node: string): string {
  return apiPath`/api/federation-links/vhost/${vhost}/${id}/${node}/restart`;
}

/** Restarts a dynamic shovel where it runs (3.10 shovel_management). */
export function shovelRestartPath(vhost: string, name: string): string {
  return apiPath`/api/shovels/vhost/${vhost}/${name}/restart`;
}

/**
 * Every other management API path crossdock uses (3.10), by what it addresses. Names and vhosts
 * are percent-encoded as single path segments.
 */
export const managementPaths = {
  overview: '/api/overview',
  nodes: '/api/nodes',
  clusterName: '/api/cluster-name',
  alarms: '/api/health/checks/alarms',
  vhost: (vhost: string) => apiPath`/api/vhosts/${vhost}`,
  user: (user: string) => apiPath`/api/users/${user}`,
  userPermissions: (user: string) => apiPath`/api/users/${user}/permissions`,
  permissions: (vhost: string, user: string) => apiPath`/api/permissions/${vhost}/${user}`,
  /** The broker's federation links (status list), cluster-wide or in one vhost. */
  federationLinks: (vhost?: string) =>
    vhost === undefined ? '/api/federation-links' : apiPath`/api/federation-links/${vhost}`,
  /** The broker's shovels (status list), cluster-wide or in one vhost. */
  shovels: (vhost?: string) =>
    vhost === undefined ? '/api/shovels' : apiPath`/api/shovels/${vhost}`,
  /** Exchanges or queues, cluster-wide or in one vhost. */
  collection: (kind: 'exchanges' | 'queues', vhost?: string) =>
    vhost === undefined ? `/api/${kind}` : `/api/${kind}` + apiPath`/${vhost}`,
  queue: (vhost: string, name: string) => objectPath({ kind: 'queue', vhost, name }),
  shovel: (vhost: string, name: string) => objectPath({ kind: 'shovel', vhost, name }),
  channel: (name: string) => apiPath`/api/channels/${name}`,
  connections: '/api/connections',
  connectionsOf: (user: string) => apiPath`/api/connections/username/${user}`,
} as const;
