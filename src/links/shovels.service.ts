import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { notifyClustersChanged } from '../common/changes';
import { DomainException, type FieldError } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { registerConstraintMessage, registerForeignKey } from '../common/errors/postgres-errors';
import { paginate, type Page } from '../common/http/pagination';
import { deleteVersioned, lockVersioned, updateVersioned } from '../database/versioned';
import { resolveLinkEnds } from './link-endpoints';
import {
  insertShovel,
  releaseOwnedObjects,
  shovelListQuery,
  siteIdsOfClusters,
} from './links.repository';
import type {
  CreateShovelDto,
  LinkQueryDto,
  ShovelSettingsDto,
  UpdateShovelDto,
} from './links.dto';
import {
  isOneShot,
  ShovelEntity,
  type ShovelCompletion,
  type ShovelSettings,
} from './shovel.entity';

registerConstraintMessage('uq_shovels_name', 'A shovel with this name already exists');
registerForeignKey('fk_shovels_source', {
  field: 'source.clusterId',
  missing: 'The source cluster does not exist',
  dependents: 'The cluster is the source of shovels; delete them first',
});
registerForeignKey('fk_shovels_destination', {
  field: 'destination.clusterId',
  missing: 'The destination cluster does not exist',
  dependents: 'The cluster is the destination of shovels; delete them first',
});

export interface ShovelView {
  id: string;
  name: string;
  source: {
    clusterId: string;
    vhost: string;
    queue: string | null;
    exchange: string | null;
    exchangeKey: string | null;
  };
  destination: {
    clusterId: string;
    vhost: string;
    queue: string | null;
    exchange: string | null;
    exchangeKey: string | null;
  };
  settings: ShovelSettings;
  paused: boolean;
  deletionPolicy: 'delete' | 'retain';
  /** A one-shot shovel (numeric or `queue-length` deleteAfter) the broker removed once done. */
  completedAt: string | null;
  completion: ShovelCompletion | null;
  /** Create and change only: what the preflight found missing on either end. */
  warnings?: string[];
  generation: number;
  appliedGeneration: number;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export function shovelView(s: ShovelEntity): ShovelView {
  return {
    id: s.id,
    name: s.name,
    source: {
      clusterId: s.sourceClusterId,
      vhost: s.sourceVhost,
      queue: s.sourceQueue,
      exchange: s.sourceExchange,
      exchangeKey: s.sourceExchangeKey,
    },
    destination: {
      clusterId: s.destinationClusterId,
      vhost: s.destinationVhost,
      queue: s.destinationQueue,
      exchange: s.destinationExchange,
      exchangeKey: s.destinationExchangeKey,
    },
    settings: s.settings,
    paused: s.paused,
    deletionPolicy: s.deletionPolicy,
    completedAt: s.completedAt?.toISOString() ?? null,
    completion: s.completion ?? null,
    generation: s.generation,
    appliedGeneration: s.appliedGeneration,
    version: s.version,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

/** The broker's own rules for a shovel definition, checked before anything is stored. */
export function shovelSettingsErrors(settings: ShovelSettingsDto | undefined): FieldError[] {
  const errors: FieldError[] = [];
  const d = settings?.deleteAfter;
  if (
    d !== undefined &&
    d !== 'never' &&
    d !== 'queue-length' &&
    !(typeof d === 'number' && Number.isInteger(d) && d > 0)
  ) {
    errors.push({
      field: 'settings.deleteAfter',
      message: "deleteAfter must be 'never', 'queue-length' or a positive integer",
    });
  }
  if (settings?.ackMode === 'no-ack' && typeof d === 'number') {
    errors.push({
      field: 'settings.ackMode',
      message:
        'ack-mode no-ack cannot be combined with a numeric delete-after (the broker rejects it)',
    });
  }
  return errors;
}

@Injectable()
export class ShovelsService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
  ) {}

  private async target(m: EntityManager, s: ShovelEntity) {
    const siteIds = await siteIdsOfClusters(m, [s.sourceClusterId, s.destinationClusterId]);
    return {
      resourceType: 'shovel',
      resourceId: s.id,
      resourceName: s.name,
      siteIds,
      clusterIds: [s.sourceClusterId, s.destinationClusterId],
    };
  }

  async create(dto: CreateShovelDto): Promise<ShovelView> {
    return this.ds.transaction((m) => this.createIn(m, dto));
  }

  /** Creates a shovel inside the caller's transaction (validation and audit included). */
  async createIn(m: EntityManager, dto: CreateShovelDto): Promise<ShovelView> {
    const errors: FieldError[] = [...shovelSettingsErrors(dto.settings)];
    if (!dto.source.queue === !dto.source.exchange)
      errors.push({ field: 'source', message: 'give exactly one of queue or exchange' });
    if (dto.source.exchangeKey !== undefined && !dto.source.exchange)
      errors.push({ field: 'source.exchangeKey', message: 'exchangeKey needs exchange' });
    if (dto.destination.queue && dto.destination.exchange)
      errors.push({ field: 'destination', message: 'give at most one of queue or exchange' });
    if (dto.destination.exchangeKey !== undefined && !dto.destination.exchange) {
      errors.push({ field: 'destination.exchangeKey', message: 'exchangeKey needs exchange' });
    }
    if (errors.length) throw DomainException.validation(errors);
    const [src, dst] = await resolveLinkEnds(m, [
      { field: 'source', clusterId: dto.source.clusterId, vhost: dto.source.vhost },
      {
        field: 'destination',
        clusterId: dto.destination.clusterId,
        vhost: dto.destination.vhost,
      },
    ]);
    const id = await insertShovel(m, {
      name: dto.name,
      sourceClusterId: src.cluster.id,
      sourceVhost: src.vhost,
      sourceQueue: dto.source.queue ?? null,
      sourceExchange: dto.source.exchange ?? null,
      sourceExchangeKey: dto.source.exchangeKey ?? null,
      destinationClusterId: dst.cluster.id,
      destinationVhost: dst.vhost,
      destinationQueue: dto.destination.queue ?? null,
      destinationExchange: dto.destination.exchange ?? null,
      destinationExchangeKey: dto.destination.exchangeKey ?? null,
      settings: { ...(dto.settings ?? {}) },
      deletionPolicy: dto.deletionPolicy ?? 'delete',
    });
    const row = await m.getRepository(ShovelEntity).findOneByOrFail({ id });
    const after = shovelView(row);
    await this.audit.record(m, {
      action: 'shovel.create',
      ...(await this.target(m, row)),
      after,
    });
    await notifyClustersChanged(m, [row.sourceClusterId, row.destinationClusterId]);
    return after;
  }

  async list(q: LinkQueryDto): Promise<Page<ShovelView>> {
    return paginate(shovelListQuery(this.ds, q), q, shovelView);
  }

  async get(id: string): Promise<ShovelView> {
    const row = await this.ds.getRepository(ShovelEntity).findOneBy({ id });
    if (!row) throw DomainException.notFound('shovel', id);
    return shovelView(row);
  }

  private change(
    id: string,
    expected: number | undefined,
    action: string,
    values: (b: ShovelEntity) => Partial<ShovelEntity>,
  ): Promise<ShovelView> {
    return this.ds.transaction(async (m) => {
      const before = await lockVersioned(m, ShovelEntity, 'shovel', id, expected);
      const row = await updateVersioned(m, ShovelEntity, 'shovel', id, expected, {
        ...values(before),
        generation: () => 'generation + 1',
      } as never);
      const after = shovelView(row);
      await this.audit.record(m, {
        action,
        ...(await this.target(m, row)),
        before: shovelView(before),
        after,
      });
      await notifyClustersChanged(m, [row.sourceClusterId, row.destinationClusterId]);
      return after;
    });
  }

  update(id: string, dto: UpdateShovelDto, expected: number | undefined): Promise<ShovelView> {
    return this.change(id, expected, 'shovel.update', (before) => {
      const settings = dto.settings ? { ...before.settings, ...dto.settings } : before.settings;
      const errors = shovelSettingsErrors(settings as ShovelSettingsDto);
      if (errors.length) throw DomainException.validation(errors);
      // A shovel that no longer deletes itself runs continuously: it is not completed any more.
      const done = isOneShot(settings) ? {} : { completedAt: null, completion: null };
      return { settings, deletionPolicy: dto.deletionPolicy ?? before.deletionPolicy, ...done };
    });
  }

  /** Runs a completed one-shot shovel again: the next pass re-creates it on the broker. */
  rerun(id: string, expected: number | undefined): Promise<ShovelView> {
    return this.change(id, expected, 'shovel.rerun', (before) => {
      if (!isOneShot(before.settings))
        throw DomainException.conflict(
          ErrorCode.Conflict,
          `shovel ${before.name} runs continuously (deleteAfter never): there is nothing to rerun`,
        );
      if (!before.completedAt)
        throw DomainException.conflict(
          ErrorCode.Conflict,
          `shovel ${before.name} has not completed yet: rerun it once the broker has removed it`,
        );
      return { completedAt: null, completion: null };
    });
  }

  setPaused(id: string, paused: boolean, expected: number | undefined): Promise<ShovelView> {
    return this.change(id, expected, paused ? 'shovel.pause' : 'shovel.resume', () => ({ paused }));
  }

  async remove(id: string, expected: number | undefined): Promise<void> {
    await this.ds.transaction(async (m) => {
      const row = await lockVersioned(m, ShovelEntity, 'shovel', id, expected);
      await deleteVersioned(m, ShovelEntity, 'shovel', id, expected);
      if (row.deletionPolicy === 'retain') await releaseOwnedObjects(m, `shovel:${id}`);
      await this.audit.record(m, {
        action: 'shovel.delete',
        ...(await this.target(m, row)),
        before: shovelView(row),
        details: { deletionPolicy: row.deletionPolicy },
      });
      await notifyClustersChanged(m, [row.sourceClusterId, row.destinationClusterId]);
    });
  }
}
