import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { pgFields } from '../common/errors/postgres-errors';
import type { Page, PageQueryDto } from '../common/http/pagination';
import { AuditService } from '../audit/audit.service';
import { deleteVersioned, updateVersioned } from '../database/versioned';
import type { ClusterEntity } from './cluster.entity';
import type { AddNodeDto, NodeView, UpdateNodeDto } from './nodes.dto';
import { ClusterAccessService } from './cluster-access.service';
import { ClustersService } from './clusters.service';
import { nodeView } from './cluster.mapper';
import { NodeChangeHooks } from './node-change-hooks';
import { NodeEntity } from './node.entity';
import { insertNode, pageOfNodes } from './clusters.repository';

/** The disc-node rule is a deferred constraint trigger: it fires at COMMIT. */
function keepDisc(err: unknown): never {
  if (
    err instanceof QueryFailedError &&
    pgFields(err).code === '23514' &&
    /disc node/.test(err.message)
  ) {
    throw DomainException.conflict(
      ErrorCode.Conflict,
      'A cluster must keep at least one disc node',
    );
  }
  throw err;
}

@Injectable()
export class NodesService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly clusterAccess: ClusterAccessService,
    private readonly audit: AuditService,
    private readonly nodeChanges: NodeChangeHooks,
  ) {}

  private target(c: ClusterEntity, n: NodeView) {
    return {
      resourceType: 'node',
      resourceId: n.id,
      resourceName: n.name,
      siteIds: [c.siteId],
      clusterIds: [c.id],
    };
  }

  private async node(
    clusterId: string,
    id: string,
    m: EntityManager = this.ds.manager,
  ): Promise<NodeEntity> {
    const n = await m.getRepository(NodeEntity).findOneBy({ id, clusterId });
    if (!n) throw DomainException.notFound('node', id);
    return n;
  }

  async list(clusterId: string, query: PageQueryDto): Promise<Page<NodeView>> {
    await this.clusters.get(clusterId);
    return pageOfNodes(this.ds, clusterId, query, nodeView);
  }

  async get(clusterId: string, id: string): Promise<NodeView> {
    return nodeView(await this.node(clusterId, id));
  }

  /**
   * A new node is a new endpoint for the admin credentials: unless they come with the request,
   * the cluster needs them entered again before crossdock talks to it.
   */
  async add(clusterId: string, dto: AddNodeDto): Promise<NodeView> {
    const { credentials, ...node } = dto;
    await this.clusterAccess.checkNetworks([{ field: 'host', host: node.host }]);
    return this.ds
      .transaction(async (m) => {
        const cluster = await this.clusters.touch(m, clusterId);
        const nodeId = await insertNode(m, { ...node, type: node.type ?? 'disc', clusterId });
        const after = nodeView(await m.getRepository(NodeEntity).findOneByOrFail({ id: nodeId }));
        await this.audit.record(m, {
          action: 'node.create',
          ...this.target(cluster, after),
          after,
        });
        if (credentials) await this.clusters.rebindCredentials(m, clusterId, credentials);
        await this.nodeChanges.nodesChanged(m, clusterId);
        return after;
      })
      .catch(keepDisc);
  }

  async update(
    clusterId: string,
    id: string,
    dto: UpdateNodeDto,
    expected: number | undefined,
  ): Promise<NodeView> {
    const { credentials, ...changes } = dto;
    if (changes.host)
      await this.clusterAccess.checkNetworks([{ field: 'host', host: changes.host }]);
    return this.ds
      .transaction(async (m) => {
        const cluster = await this.clusters.touch(m, clusterId);
        const before = nodeView(await this.node(clusterId, id, m));
        const after = nodeView(
          await updateVersioned(m, NodeEntity, 'node', id, expected, { ...changes }),
        );
        await this.audit.record(m, {
          action: 'node.update',
          ...this.target(cluster, after),
          before,
          after,
        });
        if (credentials) await this.clusters.rebindCredentials(m, clusterId, credentials);
        await this.nodeChanges.nodesChanged(m, clusterId);
        return after;
      })
      .catch(keepDisc);
  }

  async remove(clusterId: string, id: string, expected: number | undefined): Promise<void> {
    await this.ds
      .transaction(async (m) => {
        const cluster = await this.clusters.touch(m, clusterId);
        const before = nodeView(await this.node(clusterId, id, m));
        const count = await m.getRepository(NodeEntity).countBy({ clusterId });
        if (count <= 1) {
          throw DomainException.conflict(
            ErrorCode.Conflict,
            'A cluster keeps at least one node; delete the cluster instead',
          );
        }
        await deleteVersioned(m, NodeEntity, 'node', id, expected);
        await this.audit.record(m, {
          action: 'node.delete',
          ...this.target(cluster, before),
          before,
        });
        await this.nodeChanges.nodesChanged(m, clusterId);
      })
      .catch(keepDisc);
  }
}
