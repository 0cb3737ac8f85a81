import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryFailedError } from 'typeorm';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import {
  pgFields,
  registerConstraintMessage,
  registerForeignKey,
} from '../common/errors/postgres-errors';
import type { JsonText, NamedPageQueryDto, Page } from '../common/http/pagination';
import { AuditService } from '../audit/audit.service';
import { notifyAllClustersChanged } from '../common/changes';
import { deleteVersioned, lockVersioned, updateVersioned } from '../database/versioned';
import { SiteEntity } from './site.entity';
import type { CreateSiteDto, SiteView, UpdateSiteDto } from './sites.dto';
import { clustersOfSite, insertSite, pageOfSitesJson } from './sites.repository';

registerConstraintMessage('uq_sites_name', 'A site with this name already exists');
registerForeignKey('fk_clusters_site', {
  field: 'siteId',
  missing: 'The site does not exist',
  dependents: 'The site still has clusters; delete them first',
});

export function siteView(s: SiteEntity): SiteView {
  return {
    id: s.id,
    name: s.name,
    region: s.region,
    description: s.description,
    loadBalancer:
      s.loadBalancerHost !== null && s.loadBalancerPort !== null
        ? { host: s.loadBalancerHost, port: s.loadBalancerPort }
        : null,
    expectedRttMs: s.expectedRttMs,
    version: s.version,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

function columns(dto: UpdateSiteDto): Partial<SiteEntity> {
  const out: Partial<SiteEntity> = {};
  if (dto.name !== undefined) out.name = dto.name;
  if (dto.region !== undefined) out.region = dto.region;
  if (dto.description !== undefined) out.description = dto.description;
  if (dto.expectedRttMs !== undefined) out.expectedRttMs = dto.expectedRttMs;
  if (dto.loadBalancer !== undefined) {
    out.loadBalancerHost = dto.loadBalancer?.host ?? null;
    out.loadBalancerPort = dto.loadBalancer?.port ?? null;
  }
  return out;
}

@Injectable()
export class SitesService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
  ) {}

  private target(s: SiteView) {
    return { resourceType: 'site', resourceId: s.id, resourceName: s.name, siteIds: [s.id] };
  }

  async create(dto: CreateSiteDto): Promise<SiteView> {
    return this.ds.transaction(async (m) => {
      const id = await insertSite(m, { description: '', expectedRttMs: 50, ...columns(dto) });
      const after = siteView(await m.getRepository(SiteEntity).findOneByOrFail({ id }));
      await this.audit.record(m, { action: 'site.create', ...this.target(after), after });
      return after;
    });
  }

  /** The JSON of `siteView`, built by Postgres (the list is the hot read path). */
  list(query: NamedPageQueryDto): Promise<JsonText<Page<SiteView>>> {
    return pageOfSitesJson<SiteView>(this.ds, query);
  }

  async get(id: string): Promise<SiteView> {
    const row = await this.ds.getRepository(SiteEntity).findOneBy({ id });
    if (!row) throw DomainException.notFound('site', id);
    return siteView(row);
  }

  async update(id: string, dto: UpdateSiteDto, expected: number | undefined): Promise<SiteView> {
    return this.ds.transaction(async (m) => {
      const before = siteView(await lockVersioned(m, SiteEntity, 'site', id, expected));
      const after = siteView(
        await updateVersioned(m, SiteEntity, 'site', id, expected, columns(dto)),
      );
      await this.audit.record(m, { action: 'site.update', ...this.target(after), before, after });
      if (JSON.stringify(before.loadBalancer) !== JSON.stringify(after.loadBalancer)) {
        // Link URIs to this site's clusters change on every cluster that links to them.
        await notifyAllClustersChanged(m);
      }
      return after;
    });
  }

  async remove(id: string, expected: number | undefined): Promise<void> {
    try {
      await this.ds.transaction(async (m) => {
        const before = siteView(await lockVersioned(m, SiteEntity, 'site', id, expected));
        await deleteVersioned(m, SiteEntity, 'site', id, expected);
        await this.audit.record(m, { action: 'site.delete', ...this.target(before), before });
      });
    } catch (err) {
      if (err instanceof QueryFailedError && pgFields(err).code === '23503') {
        // The database refused (no check-then-delete race); now say what is in the way.
        const dependents = await clustersOfSite(this.ds, id);
        throw DomainException.conflict(
          ErrorCode.DependentsExist,
          `Site ${id} still has ${dependents.length} cluster(s); delete them first`,
          { dependents: dependents.map((d) => ({ type: 'cluster', id: d.id, name: d.name })) },
        );
      }
      throw err;
    }
  }
}
