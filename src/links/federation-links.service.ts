import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { checkBrokerVersions } from '../broker-topology/broker-version-gate';
import { federationRequirements } from '../broker-topology/broker-versions';
import { notifyClustersChanged } from '../common/changes';
import { DomainException } from '../common/errors/domain.exception';
import { registerConstraintMessage, registerForeignKey } from '../common/errors/postgres-errors';
import { paginate, type Page } from '../common/http/pagination';
import { RegistryConflictCheck } from '../common/registry-conflicts';
import { deleteVersioned, lockVersioned, updateVersioned } from '../database/versioned';
import { FederationLinkEntity } from './federation-link.entity';
import { checkTargets, upstreamObjectOf } from './federation-link.rules';
import { federationLinkView, type FederationLinkView } from './federation-link.view';
import { resolveLinkEnds } from './link-endpoints';
import {
  federationLinkListQuery,
  insertFederationLink,
  insertLinkCleanup,
  releaseOwnedObjects,
  reverseLinkNames,
  siteIdsOfClusters,
} from './links.repository';
import type { CreateFederationLinkDto, LinkQueryDto, UpdateFederationLinkDto } from './links.dto';

registerConstraintMessage(
  'uq_federation_links_name',
  'A federation link with this name already exists',
);
registerForeignKey('fk_federation_links_downstream', {
  field: 'downstream.clusterId',
  missing: 'The downstream cluster does not exist',
  dependents: 'The cluster is downstream of federation links; delete them first',
});
registerForeignKey('fk_federation_links_upstream', {
  field: 'upstream.clusterId',
  missing: 'The upstream cluster does not exist',
  dependents: 'The cluster is upstream of federation links; delete them first',
});

@Injectable()
export class FederationLinksService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
    private readonly conflicts: RegistryConflictCheck,
  ) {}

  private target(l: FederationLinkEntity, siteIds: string[]) {
    return {
      resourceType: 'federation-link',
      resourceId: l.id,
      resourceName: l.name,
      siteIds,
      clusterIds: [l.downstreamClusterId, l.upstreamClusterId],
    };
  }

  /** Copies multiply in rings and meshes: explain how many a message makes when max-hops > 1. */
  private async warnings(m: EntityManager, l: FederationLinkEntity): Promise<string[]> {
    const out: string[] = [];
    const hops = l.settings.maxHops ?? 1;
    const reverse = await reverseLinkNames(m, l);
    if (reverse.length && hops > 1) {
      out.push(
        `link ${reverse[0]} federates the other way: with max-hops ${hops} a message published on either side crosses up to ${hops} times before loop detection (x-received-from, keyed on cluster names) stops it; max-hops 1 is enough for a two-site mesh`,
      );
    }
    if (l.kind === 'queue' && l.settings.queueType !== undefined) {
      out.push(
        "queue-type sets the type of the queue an exchange-federation link declares on the upstream; a queue link pulls from the user's own queue, so the broker does not use it there",
      );
    }
    if (l.upstreamObject !== null && (l.targetPrefix !== null || l.targets.length > 1)) {
      out.push(
        `every ${l.kind} the link covers pulls from the one upstream ${l.kind} ${JSON.stringify(l.upstreamObject)}`,
      );
    }
    if (l.kind === 'exchange') {
      out.push(
        'exchange federation moves only what the downstream exchange has bindings for: bind a queue downstream before publishing upstream',
      );
    }
    return out;
  }

  async create(dto: CreateFederationLinkDto): Promise<FederationLinkView> {
    checkTargets(dto.targets, dto.targetPrefix);
    return this.ds.transaction((m) => this.createIn(m, dto));
  }

  /**
   * Creates a link inside the caller's transaction (validation, broker-version check, conflict
   * check, audit included).
   */
  async createIn(
    m: EntityManager,
    dto: CreateFederationLinkDto,
    opts: { brokerUpstreamName?: string } = {},
  ): Promise<FederationLinkView> {
    checkTargets(dto.targets, dto.targetPrefix);
    const upstreamObject = upstreamObjectOf(dto.kind, dto.upstream) ?? null;
    const [down, up] = await resolveLinkEnds(m, [
      { field: 'downstream', ...dto.downstream },
      { field: 'upstream', clusterId: dto.upstream.clusterId, vhost: dto.upstream.vhost },
    ]);
    // The upstream parameter lives on the downstream cluster: its version decides.
    const versionWarnings = await checkBrokerVersions(
      m,
      [down.cluster.id],
      federationRequirements(dto.settings ?? {}),
      'settings.queueType',
    );
    // An exchange link adds the backlog guard's keys on the upstream cluster.
    const id = await this.conflicts.around(m, [down.cluster.id, up.cluster.id], () =>
      insertFederationLink(m, {
        name: dto.name,
        kind: dto.kind,
        downstreamClusterId: down.cluster.id,
        downstreamVhost: down.vhost,
        upstreamClusterId: up.cluster.id,
        upstreamVhost: up.vhost,
        targets: dto.targets ?? [],
        targetPrefix: dto.targetPrefix ?? null,
        brokerUpstreamName: opts.brokerUpstreamName ?? null,
        upstreamObject,
        settings: { ...(dto.settings ?? {}) },
        deletionPolicy: dto.deletionPolicy ?? 'delete',
      }),
    );
    const row = await m.getRepository(FederationLinkEntity).findOneByOrFail({ id });
    const after = federationLinkView(row, [...(await this.warnings(m, row)), ...versionWarnings]);
    await this.audit.record(m, {
      action: 'federation-link.create',
      ...this.target(row, [down.cluster.siteId, up.cluster.siteId]),
      after,
    });
    await notifyClustersChanged(m, [row.downstreamClusterId, row.upstreamClusterId]);
    return after;
  }

  async list(q: LinkQueryDto): Promise<Page<FederationLinkView>> {
    return paginate(federationLinkListQuery(this.ds, q), q, (l) => federationLinkView(l));
  }

  async get(id: string): Promise<FederationLinkView> {
    const row = await this.ds.getRepository(FederationLinkEntity).findOneBy({ id });
    if (!row) throw DomainException.notFound('federation link', id);
    return federationLinkView(row, await this.warnings(this.ds.manager, row));
  }

  private siteIds(m: EntityManager, l: FederationLinkEntity): Promise<string[]> {
    return siteIdsOfClusters(m, [l.downstreamClusterId, l.upstreamClusterId]);
  }

  private async change(
    id: string,
    expected: number | undefined,
    action: string,
    values: (before: FederationLinkEntity) => Partial<FederationLinkEntity>,
    validate = false,
    check?: (m: EntityManager, row: FederationLinkEntity) => Promise<string[]>,
  ): Promise<FederationLinkView> {
    return this.ds.transaction(async (m) => {
      const beforeRow = await lockVersioned(
        m,
        FederationLinkEntity,
        'federation link',
        id,
        expected,
      );
      const patch = values(beforeRow);
      const write = () =>
        updateVersioned(m, FederationLinkEntity, 'federation link', id, expected, {
          ...patch,
          generation: () => 'generation + 1',
        } as never);
      // Targets decide which objects the link's keys reach.
      const row = validate
        ? await this.conflicts.around(
            m,
            [beforeRow.downstreamClusterId, beforeRow.upstreamClusterId],
            write,
          )
        : await write();
      const extra = check ? await check(m, row) : [];
      const after = federationLinkView(row, [...(await this.warnings(m, row)), ...extra]);
      await this.audit.record(m, {
        action,
        ...this.target(row, await this.siteIds(m, row)),
        before: federationLinkView(beforeRow),
        after,
      });
      await notifyClustersChanged(m, [row.downstreamClusterId, row.upstreamClusterId]);
      return after;
    });
  }

  update(
    id: string,
    dto: UpdateFederationLinkDto,
    expected: number | undefined,
  ): Promise<FederationLinkView> {
    return this.change(
      id,
      expected,
      'federation-link.update',
      (before) => {
        const targets = dto.targets ?? (dto.targetPrefix !== undefined ? [] : before.targets);
        const prefix = dto.targetPrefix ?? (dto.targets !== undefined ? null : before.targetPrefix);
        checkTargets(targets, prefix);
        const upstreamObject = dto.upstream
          ? upstreamObjectOf(before.kind, dto.upstream)
          : undefined;
        return {
          targets,
          targetPrefix: prefix,
          upstreamObject: upstreamObject === undefined ? before.upstreamObject : upstreamObject,
          settings: dto.settings ? { ...before.settings, ...dto.settings } : before.settings,
          deletionPolicy: dto.deletionPolicy ?? before.deletionPolicy,
        };
      },
      true,
      // A newly set queue type is a key the downstream cluster's version must know.
      (m, row) =>
        dto.settings?.queueType !== undefined
          ? checkBrokerVersions(
              m,
              [row.downstreamClusterId],
              federationRequirements(row.settings),
              'settings.queueType',
            )
          : Promise.resolve([]),
    );
  }

  setPaused(
    id: string,
    paused: boolean,
    expected: number | undefined,
  ): Promise<FederationLinkView> {
    return this.change(
      id,
      expected,
      paused ? 'federation-link.pause' : 'federation-link.resume',
      () => ({ paused }),
    );
  }

  async remove(id: string, expected: number | undefined): Promise<void> {
    await this.ds.transaction(async (m) => {
      const row = await lockVersioned(m, FederationLinkEntity, 'federation link', id, expected);
      await deleteVersioned(m, FederationLinkEntity, 'federation link', id, expected);
      // retain: crossdock lets go of the broker objects (they stay, unmanaged); delete: the next
      // pass removes exactly what the ledger says this link owned.
      if (row.deletionPolicy === 'retain') await releaseOwnedObjects(m, `link:${id}`);
      // delete, exchange federation: the WAN backlog queue on the upstream cluster (kept through
      // restarts by resource-cleanup-mode never) goes too, once the downstream no longer runs
      // the link. Queue federation pulls from the user's own queue: that stays.
      const backlogCleanup = row.deletionPolicy === 'delete' && row.kind === 'exchange';
      if (backlogCleanup) await insertLinkCleanup(m, row);
      await this.audit.record(m, {
        action: 'federation-link.delete',
        ...this.target(row, await this.siteIds(m, row)),
        before: federationLinkView(row),
        details: { deletionPolicy: row.deletionPolicy, backlogCleanup },
      });
      await notifyClustersChanged(m, [row.downstreamClusterId, row.upstreamClusterId]);
    });
  }
}
