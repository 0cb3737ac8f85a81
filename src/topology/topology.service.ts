import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { BrokerGateway } from '../broker/broker-gateway';
import { BrokerNotFoundError } from '../broker/management.errors';
import { bindingName, isBuiltinExchange, objectPath } from '../broker-topology/broker-paths';
import { checkBrokerVersions } from '../broker-topology/broker-version-gate';
import {
  queueRequirements,
  topologyDefaults,
  type ExchangeModel,
  type QueueModel,
} from '../broker-topology/topology.codec';
import { ClustersService } from '../clusters/clusters.service';
import { notifyClustersChanged } from '../common/changes';
import { DomainException, type FieldError } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { registerConstraintMessage, registerForeignKey } from '../common/errors/postgres-errors';
import { paginate, type Page } from '../common/http/pagination';
import { deleteVersioned, lockVersioned, updateVersioned } from '../database/versioned';
import type {
  CreateBindingDto,
  CreateExchangeDto,
  CreateQueueDto,
  TopologyQueryDto,
  UpdateExchangeDto,
  UpdateQueueDto,
} from './topology.dto';
import {
  TopologyObjectEntity,
  type DeletionPolicy,
  type TopologyKind,
} from './topology-object.entity';
import {
  insertTopologyObject,
  topologyListQuery,
  topologyRepository as repo,
  type ObjectState,
} from './topology.repository';
import {
  argumentProblems,
  exchangeModel,
  nameProblems,
  queueErrors,
  queueModel,
} from './topology-validation';
import {
  bindingDefinition,
  topologyView,
  type BindingDefinition,
  type TopologyView,
} from './topology.view';

registerConstraintMessage(
  'uq_topology_objects_name',
  'This cluster already declares an object of this kind with this name in this vhost',
);
registerForeignKey('fk_topology_objects_cluster', {
  field: 'clusterId',
  missing: 'The cluster does not exist',
  dependents: 'The cluster still declares exchanges, queues or bindings; delete them first',
});

type CreateDto =
  | { kind: 'exchange'; dto: CreateExchangeDto }
  | { kind: 'queue'; dto: CreateQueueDto }
  | { kind: 'binding'; dto: CreateBindingDto };

const label: Record<TopologyKind, string> = {
  exchange: 'exchange',
  queue: 'queue',
  binding: 'binding',
};

/**
 * Exchanges, queues and bindings declared through crossdock: validated, stored, audited in the
 * same transaction, and handed to the reconciler by marking their cluster changed.
 */
@Injectable()
export class TopologyService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
    private readonly clusters: ClustersService,
    private readonly gateway: BrokerGateway,
  ) {}

  create(input: CreateDto): Promise<TopologyView> {
    return this.ds.transaction((m) => this.createIn(m, input));
  }

  /** Inside the caller's transaction (definitions import declares several atomically). */
  async createIn(m: EntityManager, input: CreateDto): Promise<TopologyView> {
    const { dto } = input;
    const cluster = await repo.cluster(m, dto.clusterId);
    if (!cluster) throw DomainException.referenceNotFound('clusterId', 'cluster', dto.clusterId);
    const errors: FieldError[] = [];
    if (!cluster.vhosts.includes(dto.vhost))
      errors.push({
        field: 'vhost',
        message: `vhost ${dto.vhost} is not managed on cluster ${cluster.label} (its vhosts: ${cluster.vhosts.join(', ')})`,
      });
    let name: string;
    let definition: Record<string, unknown>;
    let deletionPolicy: DeletionPolicy = topologyDefaults.deletionPolicy;
    const warnings: string[] = [];
    if (input.kind === 'binding') {
      const b = input.dto;
      const d: BindingDefinition = {
        source: b.source,
        destinationType: b.destinationType,
        destination: b.destination,
        routingKey: b.routingKey ?? '',
        arguments: b.arguments ?? {},
      };
      errors.push(...argumentProblems(d.arguments));
      if (Buffer.byteLength(d.routingKey, 'utf8') > 255)
        errors.push({ field: 'routingKey', message: 'a routing key is at most 255 bytes' });
      name = bindingName({
        source: d.source,
        destinationType: d.destinationType === 'queue' ? 'q' : 'e',
        destination: d.destination,
        routingKey: d.routingKey,
      });
      definition = { ...d };
      for (const end of [
        { kind: 'exchange' as const, name: d.source, role: 'source' },
        { kind: d.destinationType, name: d.destination, role: 'destination' },
      ])
        if (
          !isBuiltinExchange(end.name) &&
          !(await repo.exists(m, cluster.id, end.kind, dto.vhost, end.name))
        )
          warnings.push(
            `${end.role} ${end.kind} "${end.name}" is neither declared in crossdock nor seen on ${cluster.label}: the binding is created once it exists`,
          );
      // A binding holds nothing: deleting its resource removes it from the broker.
      deletionPolicy = 'delete';
    } else if (input.kind === 'exchange') {
      const x = input.dto;
      errors.push(...nameProblems(x.name, 'name', 'exchange'));
      const model = exchangeModel(x);
      errors.push(...argumentProblems(model.arguments));
      name = x.name;
      definition = { ...model };
      deletionPolicy = x.deletionPolicy ?? deletionPolicy;
    } else {
      const q = input.dto;
      errors.push(...nameProblems(q.name, 'name', 'queue'));
      const model = queueModel(q);
      errors.push(...queueErrors(model));
      name = q.name;
      definition = { ...model };
      deletionPolicy = q.deletionPolicy ?? deletionPolicy;
    }
    if (errors.length) throw DomainException.validation(errors);
    if (input.kind === 'queue')
      warnings.push(
        ...(await checkBrokerVersions(
          m,
          [cluster.id],
          queueRequirements((definition as unknown as QueueModel).type),
          'type',
        )),
      );
    const id = await insertTopologyObject(m, {
      clusterId: cluster.id,
      kind: input.kind,
      vhost: dto.vhost,
      name,
      definition: definition as never,
      deletionPolicy,
    });
    const row = await m.getRepository(TopologyObjectEntity).findOneByOrFail({ id });
    const view = { ...topologyView(row, pendingState), warnings };
    await this.audit.record(m, {
      action: `${input.kind}.create`,
      ...target(row, cluster.site_id),
      after: view,
    });
    await notifyClustersChanged(m, [cluster.id]);
    return view;
  }

  async list(kind: TopologyKind, q: TopologyQueryDto): Promise<Page<TopologyView>> {
    const qb = topologyListQuery(this.ds, kind, q);
    const page = await paginate(qb, q, (r) => r);
    return { items: await this.withStates(page.items), nextCursor: page.nextCursor };
  }

  async get(kind: TopologyKind, id: string): Promise<TopologyView> {
    const row = await this.ds.getRepository(TopologyObjectEntity).findOneBy({ id, kind });
    if (!row) throw DomainException.notFound(label[kind], id);
    return (await this.withStates([row]))[0];
  }

  async update(
    kind: 'exchange' | 'queue',
    id: string,
    dto: UpdateExchangeDto | UpdateQueueDto,
    expected: number | undefined,
  ): Promise<TopologyView> {
    return this.ds.transaction(async (m) => {
      const before = await this.lock(m, kind, id, expected);
      const warnings: string[] = [];
      let definition: Record<string, unknown>;
      if (kind === 'exchange') {
        const model = exchangeModel({
          ...(before.definition as Partial<ExchangeModel>),
          ...(dto as UpdateExchangeDto),
        });
        const errors = argumentProblems(model.arguments);
        if (errors.length) throw DomainException.validation(errors);
        definition = { ...model };
      } else {
        const model = queueModel({
          ...(before.definition as Partial<QueueModel>),
          ...(dto as UpdateQueueDto),
        });
        const errors = queueErrors(model);
        if (errors.length) throw DomainException.validation(errors);
        warnings.push(
          ...(await checkBrokerVersions(
            m,
            [before.clusterId],
            queueRequirements(model.type),
            'type',
          )),
        );
        definition = { ...model };
      }
      const row = await updateVersioned(m, TopologyObjectEntity, label[kind], id, expected, {
        definition: definition as never,
        deletionPolicy: dto.deletionPolicy ?? before.deletionPolicy,
      });
      const [state] = await this.withStates([row], m);
      const after = { ...state, warnings };
      const cluster = await repo.cluster(m, row.clusterId);
      await this.audit.record(m, {
        action: `${kind}.update`,
        ...target(row, cluster?.site_id),
        before: topologyView(before, pendingState),
        after,
      });
      await notifyClustersChanged(m, [row.clusterId]);
      return after;
    });
  }

  /**
   * Deletes the resource. Exchanges and queues follow their deletion policy: `retain` leaves
   * the object on the broker and out of crossdock's ledger; `delete` lets the next pass delete
   * it, and a queue that holds messages (or whose depth cannot be read) needs `confirm`.
   * Bindings are always removed.
   */
  async remove(
    kind: TopologyKind,
    id: string,
    expected: number | undefined,
    confirm?: 'delete-messages',
  ): Promise<void> {
    const peek = await this.ds.getRepository(TopologyObjectEntity).findOneBy({ id, kind });
    if (!peek) throw DomainException.notFound(label[kind], id);
    const owner = `${kind}:${id}`;
    if (kind === 'queue' && peek.deletionPolicy === 'delete' && confirm !== 'delete-messages') {
      const [state] = (await repo.states(this.ds.manager, peek.clusterId, [peek])).values();
      if (state.owned) await this.guardMessages(peek);
    }
    await this.ds.transaction(async (m) => {
      const row = await this.lock(m, kind, id, expected);
      if (kind !== 'binding' && row.deletionPolicy === 'retain')
        await repo.release(m, row.clusterId, owner);
      else if (kind !== 'binding') await repo.markDeletable(m, row.clusterId, owner);
      await deleteVersioned(m, TopologyObjectEntity, label[kind], id, expected);
      const cluster = await repo.cluster(m, row.clusterId);
      await this.audit.record(m, {
        action: `${kind}.delete`,
        ...target(row, cluster?.site_id),
        before: topologyView(row, pendingState),
        ...(confirm ? { details: { confirm } } : {}),
      });
      await notifyClustersChanged(m, [row.clusterId]);
    });
  }

  /** 409 unless the queue is known to be empty (or already gone). */
  private async guardMessages(row: TopologyObjectEntity): Promise<void> {
    let messages: number | null;
    try {
      const client = this.gateway.management(await this.clusters.access(row.clusterId));
      const q = await client.request<Record<string, unknown>>(
        'GET',
        objectPath({ kind: 'queue', vhost: row.vhost, name: row.name }),
      );
      messages = typeof q.messages === 'number' ? q.messages : null;
    } catch (err) {
      if (err instanceof BrokerNotFoundError) return;
      messages = null;
    }
    if (messages === 0) return;
    const what = `queue ${JSON.stringify(row.name)} in vhost ${JSON.stringify(row.vhost)}`;
    throw DomainException.conflict(
      ErrorCode.ConfirmationRequired,
      messages === null
        ? `${what} has the deletion policy delete and its depth could not be read: send ?confirm=delete-messages to delete it with whatever it holds`
        : `${what} has the deletion policy delete and holds ${messages} messages: send ?confirm=delete-messages to delete them with it`,
      { messages },
    );
  }

  private async lock(
    m: EntityManager,
    kind: TopologyKind,
    id: string,
    expected: number | undefined,
  ): Promise<TopologyObjectEntity> {
    const row = await lockVersioned(m, TopologyObjectEntity, label[kind], id, expected);
    if (row.kind !== kind) throw DomainException.notFound(label[kind], id);
    return row;
  }

  private async withStates(
    rows: TopologyObjectEntity[],
    m: Pick<EntityManager, 'query'> = this.ds.manager,
  ): Promise<TopologyView[]> {
    const byCluster = new Map<string, TopologyObjectEntity[]>();
    for (const r of rows) byCluster.set(r.clusterId, [...(byCluster.get(r.clusterId) ?? []), r]);
    const states = new Map<string, ObjectState>();
    for (const [clusterId, rs] of byCluster)
      for (const [id, s] of await repo.states(m, clusterId, rs)) states.set(id, s);
    return rows.map((r) => topologyView(r, states.get(r.id) ?? pendingState));
  }
}

const pendingState: ObjectState = { owned: false, confirmed: false, conflict: null };

function target(row: TopologyObjectEntity, siteId: string | undefined) {
  return {
    resourceType: row.kind,
    resourceId: row.id,
    resourceName: row.kind === 'binding' ? describeBinding(bindingDefinition(row)) : row.name,
    siteIds: siteId ? [siteId] : [],
    clusterIds: [row.clusterId],
  };
}

function describeBinding(b: BindingDefinition): string {
  return `${b.source} -> ${b.destinationType} ${b.destination} (${JSON.stringify(b.routingKey)})`;
}
