import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ClusterEntity } from '../clusters/cluster.entity';
import { NodeChangeHooks } from '../clusters/node-change-hooks';
import { NodeEntity } from '../clusters/node.entity';
import { notifyAllClustersChanged } from '../common/changes';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { SiteEntity } from '../sites/site.entity';
import {
  renderedEtag,
  renderHaproxyConfig,
  renderKeepalivedConfig,
  type LoadBalancerSpec,
  type RenderInput,
} from './load-balancer-config';
import type { LoadBalancerView, PutLoadBalancerDto } from './load-balancers.dto';
import { SiteLoadBalancerEntity } from './site-load-balancer.entity';
import {
  lockLoadBalancer,
  lockLoadBalancersFronting,
  moveSiteLoadBalancerEndpoint,
  siteById,
} from './load-balancers.repository';

export interface RenderedFile {
  body: string;
  etag: string;
}

/** The request with every default applied: what is stored and rendered. */
export function loadBalancerSpec(dto: PutLoadBalancerDto): LoadBalancerSpec {
  return {
    virtualIp: dto.virtualIp,
    address: dto.address ?? dto.virtualIp,
    interface: dto.interface ?? 'eth0',
    virtualRouterId: dto.virtualRouterId ?? 51,
    bindAddress: dto.bindAddress ?? '*',
    amqpPort: dto.amqpPort ?? 5672,
    managementPort: dto.managementPort ?? 15672,
    statsPort: dto.statsPort ?? null,
    maxConnections: dto.maxConnections ?? 10000,
    hosts: dto.hosts.map((h, i) => ({
      name: h.name,
      address: h.address,
      priority: h.priority ?? Math.max(1, 150 - 10 * i),
    })),
    healthCheck: {
      intervalMs: dto.healthCheck?.intervalMs ?? 2000,
      rise: dto.healthCheck?.rise ?? 2,
      fall: dto.healthCheck?.fall ?? 3,
    },
    timeouts: {
      connectMs: dto.timeouts?.connectMs ?? 5000,
      clientMs: dto.timeouts?.clientMs ?? 10800000,
      serverMs: dto.timeouts?.serverMs ?? 10800000,
    },
  };
}

/** Rules between fields that decorators cannot express. */
function checkSpec(spec: LoadBalancerSpec): void {
  const errors: { field: string; message: string }[] = [];
  const seen = (key: (h: LoadBalancerSpec['hosts'][number]) => string, field: string) => {
    const keys = new Set<string>();
    spec.hosts.forEach((h, i) => {
      if (keys.has(key(h)))
        errors.push({ field: `hosts.${i}.${field}`, message: `${field} appears twice` });
      keys.add(key(h));
    });
  };
  seen((h) => h.name, 'name');
  seen((h) => h.address, 'address');
  seen((h) => String(h.priority), 'priority');
  const ports = [
    ['amqpPort', spec.amqpPort],
    ['managementPort', spec.managementPort],
    ['statsPort', spec.statsPort],
  ] as const;
  ports.forEach(([field, port], i) => {
    if (port !== null && ports.slice(0, i).some(([, p]) => p === port))
      errors.push({ field, message: 'each front end needs its own port' });
  });
  if (spec.hosts.some((h) => h.address === spec.virtualIp))
    errors.push({ field: 'virtualIp', message: 'the virtual IP must not be a host address' });
  if (errors.length) throw DomainException.validation(errors);
}

function view(row: SiteLoadBalancerEntity): LoadBalancerView {
  return {
    siteId: row.siteId,
    clusterId: row.clusterId,
    ...row.spec,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

@Injectable()
export class LoadBalancersService implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
    private readonly nodeChanges: NodeChangeHooks,
  ) {}

  /** A node change re-renders the site's load balancer files; the change is audited with it. */
  onModuleInit(): void {
    this.nodeChanges.register({ nodesChanged: (m, id) => this.recordRenderChanges(m, id) });
  }

  private async site(m: EntityManager, siteId: string, lock = false): Promise<SiteEntity> {
    const site = await siteById(m, siteId, lock);
    if (!site) throw DomainException.notFound('site', siteId);
    return site;
  }

  private async row(m: EntityManager, siteId: string): Promise<SiteLoadBalancerEntity> {
    await this.site(m, siteId);
    const row = await m.getRepository(SiteLoadBalancerEntity).findOneBy({ siteId });
    if (!row) throw DomainException.notFound('load balancer of site', siteId);
    return row;
  }

  async get(siteId: string): Promise<LoadBalancerView> {
    return view(await this.row(this.ds.manager, siteId));
  }

  /**
   * Creates or replaces the site's load balancer; the site's loadBalancer endpoint (what other
   * sites' link URIs use) follows its address and AMQP port in the same transaction, and every
   * cluster reconciles so links pick the new address up.
   */
  async put(
    siteId: string,
    dto: PutLoadBalancerDto,
    expected: number | undefined,
  ): Promise<LoadBalancerView> {
    const spec = loadBalancerSpec(dto);
    checkSpec(spec);
    return this.ds.transaction(async (m) => {
      const site = await this.site(m, siteId, true);
      const clusterId = dto.clusterId ?? null;
      if (clusterId !== null) {
        const c = await m.getRepository(ClusterEntity).findOneBy({ id: clusterId });
        if (!c || c.siteId !== siteId)
          throw DomainException.validation([
            { field: 'clusterId', message: `no cluster ${clusterId} in site ${site.name}` },
          ]);
      }
      const repo = m.getRepository(SiteLoadBalancerEntity);
      const existing = await lockLoadBalancer(m, siteId);
      if (expected !== undefined && existing?.version !== expected)
        throw DomainException.preconditionFailed(
          `the load balancer of site ${siteId} was changed by someone else; read it again and retry with its new ETag`,
        );
      if (existing) {
        await repo.update(
          { siteId },
          { clusterId, spec, version: () => 'version + 1', updatedAt: () => 'now()' },
        );
      } else {
        await repo.insert({ siteId, clusterId, spec, version: 1, updatedAt: new Date() });
      }
      const moved =
        site.loadBalancerHost !== spec.address || site.loadBalancerPort !== spec.amqpPort;
      if (moved) {
        await moveSiteLoadBalancerEndpoint(m, siteId, spec.address, spec.amqpPort);
      }
      const after = view(await repo.findOneByOrFail({ siteId }));
      const rendered = await this.renderInput(m, siteId).then(
        (input) => renderedEtag(renderHaproxyConfig(input)),
        () => null,
      );
      await repo.update({ siteId }, { haproxyEtag: rendered });
      await this.audit.record(m, {
        action: existing ? 'site.load-balancer.update' : 'site.load-balancer.create',
        resourceType: 'site-load-balancer',
        resourceId: siteId,
        resourceName: site.name,
        siteIds: [siteId],
        before: existing ? view(existing) : undefined,
        after,
        details: moved
          ? { siteLoadBalancer: { host: spec.address, port: spec.amqpPort } }
          : undefined,
      });
      if (moved) {
        await notifyAllClustersChanged(m);
      }
      return after;
    });
  }

  /** Removes the model; the site's loadBalancer endpoint (and so every link URI) stays as it is. */
  async remove(siteId: string, expected: number | undefined): Promise<void> {
    await this.ds.transaction(async (m) => {
      const site = await this.site(m, siteId, true);
      const before = await this.row(m, siteId);
      if (expected !== undefined && before.version !== expected)
        throw DomainException.preconditionFailed(
          `the load balancer of site ${siteId} was changed by someone else; read it again and retry with its new ETag`,
        );
      await m.getRepository(SiteLoadBalancerEntity).delete({ siteId });
      await this.audit.record(m, {
        action: 'site.load-balancer.delete',
        resourceType: 'site-load-balancer',
        resourceId: siteId,
        resourceName: site.name,
        siteIds: [siteId],
        before: view(before),
      });
    });
  }

  private async onlyCluster(m: EntityManager, site: SiteEntity): Promise<ClusterEntity | null> {
    const clusters = await m
      .getRepository(ClusterEntity)
      .find({ where: { siteId: site.id }, take: 2 });
    if (clusters.length > 1)
      throw DomainException.conflict(
        ErrorCode.Conflict,
        `site ${site.name} has several clusters: set clusterId on its load balancer to name the one behind it`,
      );
    return clusters[0] ?? null;
  }

  private async renderInput(m: EntityManager, siteId: string): Promise<RenderInput> {
    const site = await this.site(m, siteId);
    const row = await this.row(m, siteId);
    const cluster = row.clusterId
      ? await m.getRepository(ClusterEntity).findOneBy({ id: row.clusterId })
      : await this.onlyCluster(m, site);
    const nodes = cluster
      ? await m
          .getRepository(NodeEntity)
          .find({ where: { clusterId: cluster.id }, order: { seq: 'ASC' } })
      : [];
    return {
      siteName: site.name,
      clusterName: cluster?.name ?? null,
      spec: row.spec,
      nodes: nodes.map((n) => ({
        name: n.name,
        host: n.host,
        amqpPort: n.amqpPort,
        managementPort: n.managementPort,
      })),
    };
  }

  async haproxyConfig(siteId: string): Promise<RenderedFile> {
    const body = renderHaproxyConfig(await this.renderInput(this.ds.manager, siteId));
    return { body, etag: renderedEtag(body) };
  }

  async keepalivedConfig(siteId: string, host: string | undefined): Promise<RenderedFile> {
    const input = await this.renderInput(this.ds.manager, siteId);
    const names = input.spec.hosts.map((h) => h.name);
    const name = host ?? (names.length === 1 ? names[0] : undefined);
    if (name === undefined || !names.includes(name))
      throw DomainException.validation(
        [
          {
            field: 'query.host',
            message: `${host === undefined ? 'required: the load balancer has several hosts' : 'no such host'} (hosts: ${names.join(', ')})`,
          },
        ],
        'keepalived.conf is rendered per load-balancer host',
      );
    const body = renderKeepalivedConfig(input, name);
    return { body, etag: renderedEtag(body) };
  }

  /**
   * Called inside the transaction of a node or cluster change: when the haproxy.cfg of a load
   * balancer fronting that cluster renders differently now, the change of the rendered file is
   * audited in the same transaction (configuration tools see it through the ETag).
   */
  async recordRenderChanges(m: EntityManager, clusterId: string): Promise<void> {
    const cluster = await m.getRepository(ClusterEntity).findOneBy({ id: clusterId });
    if (!cluster) return;
    const rows = await lockLoadBalancersFronting(m, cluster.siteId, clusterId);
    for (const row of rows) {
      let input: RenderInput;
      try {
        input = await this.renderInput(m, row.siteId);
      } catch {
        continue; // ambiguous (several clusters, none named): nothing renders, nothing changed
      }
      const etag = renderedEtag(renderHaproxyConfig(input));
      if (etag === row.haproxyEtag) continue;
      await m
        .getRepository(SiteLoadBalancerEntity)
        .update({ siteId: row.siteId }, { haproxyEtag: etag });
      await this.audit.record(m, {
        action: 'site.load-balancer.render',
        resourceType: 'site-load-balancer',
        resourceId: row.siteId,
        resourceName: input.siteName,
        siteIds: [row.siteId],
        clusterIds: [clusterId],
        before: { haproxyEtag: row.haproxyEtag },
        after: {
          haproxyEtag: etag,
          backends: input.nodes.map((n) => `${n.name} ${n.host}:${n.amqpPort}/${n.managementPort}`),
        },
      });
    }
  }
}
