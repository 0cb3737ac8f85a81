import type { ExchangeModel, QueueModel } from '../broker-topology/topology.codec';
import type { DeletionPolicy, TopologyKind, TopologyObjectEntity } from './topology-object.entity';
import type { ObjectState } from './topology.repository';

export interface BindingDefinition {
  source: string;
  destinationType: 'queue' | 'exchange';
  destination: string;
  routingKey: string;
  arguments: Record<string, unknown>;
}

/**
 * `pending`: not on the broker through crossdock yet (the next pass creates or adopts it);
 * `present`: on the broker as declared, owned by crossdock; `conflict`: the broker holds an
 * object of that name with another type or arguments, left as it is (see `conflict`).
 */
export type TopologyStatus = 'pending' | 'present' | 'conflict';

interface Common {
  id: string;
  clusterId: string;
  vhost: string;
  status: TopologyStatus;
  /** Both definitions, crossdock's and the broker's, when `status` is `conflict`. */
  conflict: string | null;
  warnings: string[];
  version: number;
  createdAt: string;
  updatedAt: string;
}

export type ExchangeView = Common &
  ExchangeModel & { name: string; deletionPolicy: DeletionPolicy };
export type QueueView = Common & QueueModel & { name: string; deletionPolicy: DeletionPolicy };
export type BindingView = Common & BindingDefinition;
export type TopologyView = ExchangeView | QueueView | BindingView;

export function bindingDefinition(row: TopologyObjectEntity): BindingDefinition {
  const d = row.definition as unknown as BindingDefinition;
  return {
    source: d.source,
    destinationType: d.destinationType,
    destination: d.destination,
    routingKey: d.routingKey,
    arguments: d.arguments ?? {},
  };
}

export function topologyView(row: TopologyObjectEntity, state: ObjectState): TopologyView {
  const common: Common = {
    id: row.id,
    clusterId: row.clusterId,
    vhost: row.vhost,
    status: state.conflict ? 'conflict' : state.owned && state.confirmed ? 'present' : 'pending',
    conflict: state.conflict,
    warnings: [],
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
  const kind: TopologyKind = row.kind;
  if (kind === 'binding') return { ...common, ...bindingDefinition(row) };
  const d = row.definition;
  if (kind === 'exchange') {
    const x = d as unknown as ExchangeModel;
    return {
      ...common,
      name: row.name,
      type: x.type,
      durable: x.durable,
      autoDelete: x.autoDelete,
      internal: x.internal,
      arguments: x.arguments ?? {},
      deletionPolicy: row.deletionPolicy,
    };
  }
  const q = d as unknown as QueueModel;
  return {
    ...common,
    name: row.name,
    type: q.type,
    durable: q.durable,
    autoDelete: q.autoDelete,
    arguments: q.arguments ?? {},
    deletionPolicy: row.deletionPolicy,
  };
}
