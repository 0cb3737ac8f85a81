import type { BrokerErrorKind, ManagementAlarm } from '../broker/management.types';

import type { NodeType, ObservedNode, PluginsMissing } from '../broker-topology/broker-facts';

export type { NodeType, ObservedNode, PluginsMissing };

export interface DeclaredNode {
  /** Erlang node name, e.g. `rabbit@dc1-a`. */
  name: string;
  host: string;
  managementPort: number;
  type: NodeType;
}

/** What the registry says one cluster should look like. */
export interface DeclaredCluster {
  brokerClusterName: string;
  nodes: DeclaredNode[];
  partitionHandling?: string;
}

/** Whether a declared node's own management listener answered. */
export interface NodeReachability {
  name: string;
  /** True when the node's management endpoint gave an HTTP answer (even an error status). */
  managementReachable: boolean;
  /** The node that actually answered on this node's endpoint. */
  answeredAs?: string;
  error?: { kind: BrokerErrorKind | 'unconfigured'; message: string };
  latencyMs: number;
}

/** An endpoint whose answer could not be used, so what it describes is unknown. */
export interface UnknownPart {
  endpoint: string;
  reason: string;
}

/** The observed side of the diff: everything diffDeclaredObserved needs, nothing else. */
export interface ObservedFacts {
  reachable: boolean;
  perNode: NodeReachability[];
  /** null: unknown. */
  clusterName: string | null;
  /** null: unknown (GET /api/nodes failed). */
  nodes: ObservedNode[] | null;
  /** Cluster-wide alarms from the health check (real time, unlike /api/nodes); null: unknown. */
  alarms: ManagementAlarm[] | null;
  /** Not exposed by the 3.10 management API, so observeCluster always leaves it null. */
  partitionHandling: string | null;
  unknown: UnknownPart[];
}

export type DifferenceKind =
  | 'cluster-unreachable'
  | 'observation-incomplete'
  | 'cluster-name-mismatch'
  | 'node-not-member'
  | 'undeclared-member'
  | 'node-not-running'
  | 'node-type-mismatch'
  | 'node-management-unreachable'
  | 'management-endpoint-mismatch'
  | 'network-partition'
  | 'memory-alarm'
  | 'disk-alarm'
  | 'resource-alarm'
  | 'plugin-missing'
  | 'partition-handling-mismatch';

export interface Difference {
  kind: DifferenceKind;
  detail: string;
  node?: string;
}

export interface ClusterObservation {
  /** Some management node gave an HTTP answer. */
  reachable: boolean;
  perNode: NodeReachability[];
  rabbitmqVersion: string | null;
  erlangVersion: string | null;
  clusterName: string | null;
  nodes: ObservedNode[] | null;
  /** Running nodes that do not have every plugin crossdock relies on enabled. */
  pluginsMissing: PluginsMissing[];
  alarms: ManagementAlarm[] | null;
  unknown: UnknownPart[];
  observedAt: string;
  differences: Difference[];
}
