import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { notifyClustersChanged } from '../common/changes';
import { DomainException, type FieldError } from '../common/errors/domain.exception';
import { registerConstraintMessage } from '../common/errors/postgres-errors';
import { paginate, type Page } from '../common/http/pagination';
import { deleteVersioned, lockVersioned, updateVersioned } from '../database/versioned';
import { resolveLinkEnds } from '../links/link-endpoints';
import type {
  CreateOverflowRuleDto,
  OverflowQueryDto,
  UpdateOverflowRuleDto,
} from './overflow.dto';
import { OverflowRuleEntity } from './overflow-rule.entity';
import {
  distinctSiteIdsOfClusters,
  insertOverflowRule,
  overflowRuleListQuery,
} from './overflow-rules.repository';

registerConstraintMessage(
  'uq_overflow_rules_name',
  'An overflow rule with this name already exists',
);
registerConstraintMessage(
  'uq_overflow_rules_queue',
  'This queue already has an overflow rule (one rule per queue)',
);

export interface OverflowRuleView {
  id: string;
  name: string;
  source: { clusterId: string; vhost: string; queue: string };
  remote: {
    clusterId: string;
    vhost: string;
    queue: string | null;
    exchange: string | null;
    routingKey: string | null;
  };
  highWatermark: number;
  lowWatermark: number;
  minHoldMs: number;
  remoteMaxDepth: number | null;
  prefetch: number;
  batchLimit: number;
  enabled: boolean;
  status: {
    state: string;
    reason: string;
    since: string;
    depth: number | null;
    lastEvaluatedAt: string | null;
    /**
     * Messages the spill moved to the remote site (confirmed there): finished batches plus what
     * the running one has moved so far.
     */
    diverted: number;
    activations: number;
    batch: { budget: number; startedAt: string; moved: number } | null;
  };
  /** Create and change only: what the preflight found missing on either end. */
  warnings?: string[];
  version: number;
  createdAt: string;
  updatedAt: string;
}

export function overflowView(r: OverflowRuleEntity): OverflowRuleView {
  return {
    id: r.id,
    name: r.name,
    source: { clusterId: r.clusterId, vhost: r.vhost, queue: r.queue },
    remote: {
      clusterId: r.remoteClusterId,
      vhost: r.remoteVhost,
      queue: r.remoteQueue,
      exchange: r.remoteExchange,
      routingKey: r.remoteRoutingKey,
    },
    highWatermark: r.highWatermark,
    lowWatermark: r.lowWatermark,
    minHoldMs: r.minHoldMs,
    remoteMaxDepth: r.remoteMaxDepth,
    prefetch: r.prefetch,
    batchLimit: r.batchLimit,
    enabled: r.enabled,
    status: {
      state: r.state,
      reason: r.stateReason,
      since: r.stateSince.toISOString(),
      depth: r.lastDepth,
      lastEvaluatedAt: r.lastEvaluatedAt?.toISOString() ?? null,
      diverted: Number(r.diverted) + (r.batch?.acked ?? 0),
      activations: r.activations,
      batch: r.batch
        ? { budget: r.batch.budget, startedAt: r.batch.startedAt, moved: r.batch.acked }
        : null,
    },
    version: r.version,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

function watermarkErrors(high: number, low: number): FieldError[] {
  return low < high
    ? []
    : [{ field: 'lowWatermark', message: 'lowWatermark must be below highWatermark (hysteresis)' }];
}

/** Only the configuration: audit records show what an operator changed, not the live status. */
const config = (v: OverflowRuleView) => {
  const { status: _status, ...rest } = v;
  return rest;
};

@Injectable()
export class OverflowRulesService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
  ) {}

  private async target(m: EntityManager, r: OverflowRuleEntity) {
    const siteIds = await distinctSiteIdsOfClusters(m, [r.clusterId, r.remoteClusterId]);
    return {
      resourceType: 'overflow-rule',
      resourceId: r.id,
      resourceName: r.name,
      siteIds,
      clusterIds: [r.clusterId, r.remoteClusterId],
    };
  }

  async create(dto: CreateOverflowRuleDto): Promise<OverflowRuleView> {
    const errors = watermarkErrors(dto.highWatermark, dto.lowWatermark);
    if (!dto.remote.queue === !dto.remote.exchange)
      errors.push({ field: 'remote', message: 'give exactly one of queue or exchange' });
    if (dto.remote.routingKey !== undefined && !dto.remote.exchange)
      errors.push({ field: 'remote.routingKey', message: 'routingKey needs exchange' });
    if (errors.length) throw DomainException.validation(errors);
    return this.ds.transaction(async (m) => {
      const [src, dst] = await resolveLinkEnds(m, [
        { field: 'source', clusterId: dto.source.clusterId, vhost: dto.source.vhost },
        { field: 'remote', clusterId: dto.remote.clusterId, vhost: dto.remote.vhost },
      ]);
      const id = await insertOverflowRule(m, {
        name: dto.name,
        clusterId: src.cluster.id,
        vhost: src.vhost,
        queue: dto.source.queue,
        remoteClusterId: dst.cluster.id,
        remoteVhost: dst.vhost,
        remoteQueue: dto.remote.queue ?? null,
        remoteExchange: dto.remote.exchange ?? null,
        remoteRoutingKey: dto.remote.routingKey ?? null,
        highWatermark: dto.highWatermark,
        lowWatermark: dto.lowWatermark,
        ...(dto.minHoldMs !== undefined ? { minHoldMs: dto.minHoldMs } : {}),
        remoteMaxDepth: dto.remoteMaxDepth ?? null,
        ...(dto.prefetch !== undefined ? { prefetch: dto.prefetch } : {}),
        ...(dto.batchLimit !== undefined ? { batchLimit: dto.batchLimit } : {}),
        ...(dto.enabled !== undefined ? { enabled: dto.enabled } : {}),
      });
      const row = await m.getRepository(OverflowRuleEntity).findOneByOrFail({ id });
      const after = overflowView(row);
      await this.audit.record(m, {
        action: 'overflow-rule.create',
        ...(await this.target(m, row)),
        after: config(after),
      });
      // Both clusters get the rule's probe path (the gate), the remote one the link user.
      await notifyClustersChanged(m, [row.clusterId, row.remoteClusterId]);
      return after;
    });
  }

  list(q: OverflowQueryDto): Promise<Page<OverflowRuleView>> {
    return paginate(overflowRuleListQuery(this.ds, q), q, overflowView);
  }

  async get(id: string): Promise<OverflowRuleView> {
    const row = await this.ds.getRepository(OverflowRuleEntity).findOneBy({ id });
    if (!row) throw DomainException.notFound('overflow rule', id);
    return overflowView(row);
  }

  update(
    id: string,
    dto: UpdateOverflowRuleDto,
    expected: number | undefined,
  ): Promise<OverflowRuleView> {
    return this.ds.transaction(async (m) => {
      const before = await lockVersioned(m, OverflowRuleEntity, 'overflow rule', id, expected);
      const high = dto.highWatermark ?? before.highWatermark;
      const low = dto.lowWatermark ?? before.lowWatermark;
      const errors = watermarkErrors(high, low);
      if (errors.length) throw DomainException.validation(errors);
      const values: Partial<OverflowRuleEntity> = { highWatermark: high, lowWatermark: low };
      for (const k of ['minHoldMs', 'remoteMaxDepth', 'prefetch', 'batchLimit', 'enabled'] as const)
        if (dto[k] !== undefined) (values as Record<string, unknown>)[k] = dto[k];
      const row = await updateVersioned(
        m,
        OverflowRuleEntity,
        'overflow rule',
        id,
        expected,
        values as never,
      );
      const after = overflowView(row);
      await this.audit.record(m, {
        action: 'overflow-rule.update',
        ...(await this.target(m, row)),
        before: config(overflowView(before)),
        after: config(after),
      });
      await notifyClustersChanged(m, [row.clusterId, row.remoteClusterId]);
      return after;
    });
  }

  /** The engine stops a running spill shovel of a deleted rule (its ledger row names the rule). */
  async remove(id: string, expected: number | undefined): Promise<void> {
    await this.ds.transaction(async (m) => {
      const row = await lockVersioned(m, OverflowRuleEntity, 'overflow rule', id, expected);
      await deleteVersioned(m, OverflowRuleEntity, 'overflow rule', id, expected);
      await this.audit.record(m, {
        action: 'overflow-rule.delete',
        ...(await this.target(m, row)),
        before: config(overflowView(row)),
      });
      await notifyClustersChanged(m, [row.clusterId, row.remoteClusterId]);
    });
  }
}
