import type { FederationSettings } from '../links/federation-link.entity';
import type { ShovelSettings } from '../links/shovel.entity';
import type { ObjectKey, ObservedObject } from '../reconciliation/broker-state';
import type { ClusterAddresses } from './import-patterns';
import type { ExchangeModel, QueueModel } from '../broker-topology/topology.codec';

export interface ImportInput {
  cluster: ClusterAddresses;
  /** Every registered cluster (this one included), with its AMQP addresses. */
  clusters: readonly ClusterAddresses[];
  vhosts: readonly string[];
  observed: readonly ObservedObject[];
  /** objectIds of the ownership ledger: these are crossdock's already. */
  owned: ReadonlySet<string>;
  /** Names already used by policies, federation links and shovels in the registry. */
  takenNames: { policies: string[]; links: string[]; shovels: string[] };
  /**
   * Opt-in: also adopt the vhosts' exchanges, queues and bindings as declared resources;
   * `declared` holds the objectIds this cluster already declares.
   */
  topology?: { declared: ReadonlySet<string> };
  /** crossdock's links into this cluster and shovels out of it: an import must not duplicate them. */
  existing?: {
    links: {
      name: string;
      kind: 'exchange' | 'queue';
      downstreamVhost: string;
      targets: string[];
      targetPrefix: string | null;
    }[];
    shovels: { name: string; sourceVhost: string; sourceQueue: string | null }[];
  };
}

/** An adoptable object that would duplicate an existing crossdock resource: the import is refused (409). */
export interface ImportConflict extends ObjectKey {
  resource: { type: ImportResourceType; name: string };
  detail: string;
}

export type ImportResourceType =
  'policy' | 'federation-link' | 'shovel' | 'exchange' | 'queue' | 'binding';

export interface ImportItem extends ObjectKey {
  action: 'adopt' | 'skip';
  reason: string;
  /** The crossdock resources this object becomes (adopt only). */
  resources?: { type: ImportResourceType; name: string }[];
}

export interface ImportWarning extends ObjectKey {
  detail: string;
}

export interface PolicyImport {
  type: 'policy';
  name: string;
  vhost: string;
  pattern: string;
  applyTo: 'queues' | 'exchanges';
  priority: number;
  definition: Record<string, unknown>;
  /** The broker object this resource comes from. */
  source: ObjectKey;
  /** Broker objects handed over to this resource (the reconciler replaces them). */
  originals: ObjectKey[];
}

export interface LinkImport {
  type: 'federation-link';
  name: string;
  kind: 'exchange' | 'queue';
  downstreamVhost: string;
  upstreamClusterId: string;
  upstreamVhost: string;
  targets?: string[];
  targetPrefix?: string;
  /** The handed-over upstream keeps its name: the reconciler updates it in place. */
  brokerUpstreamName?: string;
  /** The upstream's `exchange` (exchange links) or `queue` (queue links) key, when it has one. */
  upstreamObject?: string;
  settings: FederationSettings;
  source: ObjectKey;
  originals: ObjectKey[];
}

export interface ShovelImport {
  type: 'shovel';
  name: string;
  sourceVhost: string;
  sourceQueue?: string;
  sourceExchange?: string;
  sourceExchangeKey?: string;
  destinationClusterId: string;
  destinationVhost: string;
  destinationQueue?: string;
  destinationExchange?: string;
  destinationExchangeKey?: string;
  settings: ShovelSettings;
  source: ObjectKey;
  originals: ObjectKey[];
}

export type ResourceImport = PolicyImport | LinkImport | ShovelImport;

/** An exchange, queue or binding adopted as a declared resource (as it is on the broker). */
export type TopologyImport = { vhost: string; name: string; source: ObjectKey } & (
  | { type: 'exchange'; exchange: ExchangeModel }
  | { type: 'queue'; queue: QueueModel }
  | {
      type: 'binding';
      binding: {
        source: string;
        destinationType: 'queue' | 'exchange';
        destination: string;
        routingKey: string;
        arguments: Record<string, unknown>;
      };
    }
);

export interface ImportPlan {
  items: ImportItem[];
  warnings: ImportWarning[];
  conflicts: ImportConflict[];
  resources: ResourceImport[];
  /** Declared exchanges, queues and bindings to create (with `topology` only). */
  topology: TopologyImport[];
}
