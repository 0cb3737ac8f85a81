import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { checkBrokerVersions } from '../broker-topology/broker-version-gate';
import { policyRequirements, type PolicyApplyTo } from '../broker-topology/broker-versions';
import { notifyClustersChanged } from '../common/changes';
import { invalidInput, patternProblem } from '../common/dto/broker-pattern';
import { DomainException, type FieldError } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { registerConstraintMessage, registerForeignKey } from '../common/errors/postgres-errors';
import type { Page } from '../common/http/pagination';
import { RegistryConflictCheck } from '../common/registry-conflicts';
import { deleteVersioned, lockVersioned, updateVersioned } from '../database/versioned';
import type { CreatePolicyDto, PolicyQueryDto, UpdatePolicyDto } from './policies.dto';
import {
  describeBlastRadius,
  needsConfirmation,
  type BlastRadius,
  type BlastRadiusCluster,
} from './blast-radius';
import { checkDefinition } from './policy-definition';
import { PolicyEntity } from './policy.entity';
import {
  clustersInScope,
  insertPolicy,
  pageOfPolicies,
  vhostQueueCounts,
} from './policies.repository';

registerConstraintMessage('uq_policies_name', 'A policy with this name already exists');
registerForeignKey('fk_policies_cluster', {
  field: 'clusterId',
  missing: 'The cluster does not exist',
  dependents: 'The cluster still has policies; delete them first',
});
registerForeignKey('fk_policies_site', {
  field: 'siteId',
  missing: 'The site does not exist',
  dependents: 'The site still has policies; delete them first',
});

export interface PolicyView {
  id: string;
  name: string;
  scope: 'cluster' | 'site' | 'global';
  clusterId: string | null;
  siteId: string | null;
  vhost: string;
  pattern: string;
  applyTo: PolicyApplyTo;
  priority: number;
  definition: Record<string, unknown>;
  warnings: string[];
  version: number;
  createdAt: string;
  updatedAt: string;
}

export function policyView(p: PolicyEntity): PolicyView {
  return {
    id: p.id,
    name: p.name,
    scope: p.scope,
    clusterId: p.clusterId,
    siteId: p.siteId,
    vhost: p.vhost,
    pattern: p.pattern,
    applyTo: p.applyTo,
    priority: p.priority,
    definition: p.definition,
    warnings: checkDefinition(p.applyTo, p.definition).warnings,
    version: p.version,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

function validate(applyTo: PolicyApplyTo, pattern: string, def: Record<string, unknown>): void {
  const errors: FieldError[] = [...checkDefinition(applyTo, def).errors];
  const problem = patternProblem(pattern);
  if (problem) errors.push({ field: 'pattern', message: problem });
  if (errors.length) throw invalidInput(errors);
}

interface GuardedPolicy {
  name: string;
  vhost: string;
  pattern: string;
  applyTo: PolicyApplyTo;
  definition: Record<string, unknown>;
}

@Injectable()
export class PoliciesService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
    private readonly conflicts: RegistryConflictCheck,
  ) {}

  /** The clusters a policy lands on. */
  private async clustersOf(
    m: EntityManager,
    p: { scope: string; clusterId: string | null; siteId: string | null },
  ) {
    return clustersInScope(m, p);
  }

  private async target(m: EntityManager, p: PolicyEntity) {
    const clusters = await this.clustersOf(m, p);
    return {
      resourceType: 'policy',
      resourceId: p.id,
      resourceName: p.name,
      siteIds: [...new Set(clusters.map((c) => c.site_id).concat(p.siteId ? [p.siteId] : []))],
      clusterIds: clusters.map((c) => c.id),
    };
  }

  /**
   * The blast-radius guard: destructive keys on every queue of a vhost on several clusters need
   * `confirm`, as mass deletes need `confirmDeletes`. Returns the warning for the answer (and
   * the audit event) when confirmed; `before` exempts a change that widens nothing.
   */
  private async guardBlastRadius(
    m: EntityManager,
    clusterIds: string[],
    p: GuardedPolicy,
    confirm: boolean | undefined,
    before?: GuardedPolicy,
  ): Promise<string[]> {
    const rows = await vhostQueueCounts(m, clusterIds, p.vhost);
    const keys = needsConfirmation(p, rows.length);
    if (keys.length === 0) return [];
    if (before) {
      const was = needsConfirmation(before, rows.length);
      if (was.length > 0 && keys.every((k) => was.includes(k))) return [];
    }
    const clusters: BlastRadiusCluster[] = rows.map((r) => ({
      clusterId: r.id,
      name: r.name,
      queues: r.queues === null ? null : Number(r.queues),
    }));
    const radius: BlastRadius = {
      vhost: p.vhost,
      keys,
      clusters,
      objects: clusters.reduce((n, c) => n + (c.queues ?? 0), 0),
      unobservedClusters: clusters.filter((c) => c.queues === null).length,
    };
    const text = describeBlastRadius(p.name, radius);
    if (!confirm) {
      throw DomainException.conflict(
        ErrorCode.ConfirmationRequired,
        `${text}: send "confirm": true to proceed`,
        { blastRadius: radius },
      );
    }
    return [`confirmed: ${text}`];
  }

  async create(dto: CreatePolicyDto): Promise<PolicyView> {
    const scopeErrors: FieldError[] = [];
    if (dto.scope === 'cluster' && (!dto.clusterId || dto.siteId))
      scopeErrors.push({
        field: 'clusterId',
        message: 'scope cluster needs clusterId (and no siteId)',
      });
    if (dto.scope === 'site' && (!dto.siteId || dto.clusterId))
      scopeErrors.push({ field: 'siteId', message: 'scope site needs siteId (and no clusterId)' });
    if (dto.scope === 'global' && (dto.siteId || dto.clusterId))
      scopeErrors.push({
        field: 'scope',
        message: 'scope global takes neither siteId nor clusterId',
      });
    if (scopeErrors.length) throw DomainException.validation(scopeErrors);
    validate(dto.applyTo, dto.pattern, dto.definition);
    return this.ds.transaction((m) => this.createIn(m, dto));
  }

  /**
   * Creates a validated policy inside the caller's transaction (conflict check, broker-version
   * check, audit and change notification included): several resources can be created atomically
   * (definitions import).
   */
  async createIn(m: EntityManager, dto: CreatePolicyDto): Promise<PolicyView> {
    validate(dto.applyTo, dto.pattern, dto.definition);
    const lands = await this.clustersOf(m, {
      scope: dto.scope,
      clusterId: dto.clusterId ?? null,
      siteId: dto.siteId ?? null,
    });
    const versionWarnings = await checkBrokerVersions(
      m,
      lands.map((c) => c.id),
      policyRequirements(dto.applyTo),
      'applyTo',
    );
    const radiusWarnings = await this.guardBlastRadius(
      m,
      lands.map((c) => c.id),
      { ...dto, definition: dto.definition },
      dto.confirm,
    );
    const res = await this.conflicts.around(
      m,
      lands.map((c) => c.id),
      () =>
        insertPolicy(m, {
          name: dto.name,
          scope: dto.scope,
          clusterId: dto.clusterId ?? null,
          siteId: dto.siteId ?? null,
          vhost: dto.vhost,
          pattern: dto.pattern,
          applyTo: dto.applyTo,
          priority: dto.priority ?? 0,
          definition: dto.definition as never,
        }),
    );
    const row = await m
      .getRepository(PolicyEntity)
      .findOneByOrFail({ id: (res.raw as { id: string }[])[0].id });
    const target = await this.target(m, row);
    const view = policyView(row);
    const after = {
      ...view,
      warnings: [...view.warnings, ...versionWarnings, ...radiusWarnings],
    };
    await this.audit.record(m, { action: 'policy.create', ...target, after });
    await notifyClustersChanged(m, target.clusterIds);
    return after;
  }

  list(q: PolicyQueryDto): Promise<Page<PolicyView>> {
    return pageOfPolicies(
      this.ds,
      { clusterId: q.clusterId, siteId: q.siteId, name: q.name },
      q,
      policyView,
    );
  }

  async get(id: string): Promise<PolicyView> {
    const row = await this.ds.getRepository(PolicyEntity).findOneBy({ id });
    if (!row) throw DomainException.notFound('policy', id);
    return policyView(row);
  }

  async update(
    id: string,
    dto: UpdatePolicyDto,
    expected: number | undefined,
  ): Promise<PolicyView> {
    return this.ds.transaction(async (m) => {
      const before = await lockVersioned(m, PolicyEntity, 'policy', id, expected);
      const pattern = dto.pattern ?? before.pattern;
      const definition = dto.definition ?? before.definition;
      validate(before.applyTo, pattern, definition);
      const lands = await this.clustersOf(m, before);
      const radiusWarnings = await this.guardBlastRadius(
        m,
        lands.map((c) => c.id),
        { ...before, pattern, definition },
        dto.confirm,
        before,
      );
      const row = await this.conflicts.around(
        m,
        lands.map((c) => c.id),
        () =>
          updateVersioned(m, PolicyEntity, 'policy', id, expected, {
            pattern,
            definition,
            priority: dto.priority ?? before.priority,
          } as never),
      );
      const target = await this.target(m, row);
      const view = policyView(row);
      const after = { ...view, warnings: [...view.warnings, ...radiusWarnings] };
      await this.audit.record(m, {
        action: 'policy.update',
        ...target,
        before: policyView(before),
        after,
      });
      await notifyClustersChanged(m, target.clusterIds);
      return after;
    });
  }

  async remove(id: string, expected: number | undefined): Promise<void> {
    await this.ds.transaction(async (m) => {
      const row = await lockVersioned(m, PolicyEntity, 'policy', id, expected);
      const target = await this.target(m, row);
      await deleteVersioned(m, PolicyEntity, 'policy', id, expected);
      await this.audit.record(m, { action: 'policy.delete', ...target, before: policyView(row) });
      await notifyClustersChanged(m, target.clusterIds);
    });
  }
}
