import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager, In } from 'typeorm';
import { notifyClustersChanged } from '../common/changes';
import { SecretBox } from '../common/crypto/secret-box';
import { DomainException } from '../common/errors/domain.exception';
import { registerConstraintMessage, registerForeignKey } from '../common/errors/postgres-errors';
import type { Page } from '../common/http/pagination';
import { RegistryConflictCheck } from '../common/registry-conflicts';
import { AuditService } from '../audit/audit.service';
import { deleteVersioned, lockVersioned, updateVersioned } from '../database/versioned';
import { ClusterEntity } from './cluster.entity';
import { clusterView } from './cluster.mapper';
import { ClusterAccessService, type ClusterAccess } from './cluster-access.service';
import type { CredentialsDto } from './cluster-credentials.dto';
import type {
  ClusterQueryDto,
  ClusterView,
  CreateClusterDto,
  UpdateClusterDto,
} from './clusters.dto';
import { NodeEntity } from './node.entity';
import { checkReplication } from './replication';
import { clusterAuditTarget } from '../audit/audit-target';
import { credentialEndpoints } from './credential-binding';
import { tlsClientKeyAad } from './cluster-tls';
import { checkClusterTls } from './cluster-tls-input';
import {
  bumpClusterVersion,
  clustersConnectingTo,
  insertCluster,
  insertNodes,
  pageOfClusters,
  writeAdminCredentials,
} from './clusters.repository';

registerConstraintMessage(
  'uq_clusters_site_name',
  'This site already has a cluster with that name',
);
registerConstraintMessage(
  'uq_clusters_broker_cluster_name',
  'Another registered cluster already carries this broker cluster name (it must be unique across all sites)',
);
registerConstraintMessage(
  'uq_nodes_cluster_name',
  'This cluster already has a node with that name',
);
registerForeignKey('fk_nodes_cluster', {
  field: 'clusterId',
  missing: 'The cluster does not exist',
  dependents: 'The cluster still has nodes',
});

@Injectable()
export class ClustersService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    private readonly conflicts: RegistryConflictCheck,
    private readonly clusterAccess: ClusterAccessService,
  ) {}

  /**
   * Re-enters the admin credentials for the cluster's endpoints as they are now (inside the
   * transaction of an endpoint change that carried them), recording only the fact.
   */
  async rebindCredentials(m: EntityManager, id: string, dto: CredentialsDto): Promise<void> {
    const c = await m.getRepository(ClusterEntity).findOneByOrFail({ id });
    const nodes = await m.getRepository(NodeEntity).findBy({ clusterId: id });
    await writeAdminCredentials(
      m,
      id,
      dto.username,
      this.box.encrypt(dto.password, id),
      credentialEndpoints(c.managementScheme, nodes, !!c.tls),
    );
    await this.audit.record(m, {
      action: 'cluster.credentials.update',
      ...clusterAuditTarget(clusterView(c, nodes)),
      before: { adminUsername: c.adminUsername, credentialsVersion: c.credentialsVersion },
      after: {
        adminUsername: dto.username,
        credentialsVersion: c.credentialsVersion + 1,
        credentials: '(changed)',
      },
    });
  }

  private target(c: ClusterView) {
    return clusterAuditTarget(c);
  }

  async create(dto: CreateClusterDto): Promise<ClusterView> {
    if (!dto.nodes.some((n) => (n.type ?? 'disc') === 'disc')) {
      throw DomainException.validation([
        { field: 'nodes', message: 'a cluster needs at least one disc node' },
      ]);
    }
    await this.clusterAccess.checkNetworks([
      ...dto.nodes.map((n, i) => ({ field: `nodes.${i}.host`, host: n.host })),
      ...dto.linkEndpoints.map((e, i) => ({ field: `linkEndpoints.${i}.host`, host: e.host })),
    ]);
    const nodeNames = dto.nodes.map((n) => n.name);
    const replication = checkReplication(dto.replication, nodeNames);
    const tls = checkClusterTls(dto.tls, dto.managementScheme ?? 'http');
    const id = randomUUID();
    return this.ds.transaction(async (m) => {
      await insertCluster(m, {
        id,
        siteId: dto.siteId,
        name: dto.name,
        brokerClusterName: dto.brokerClusterName,
        managementScheme: dto.managementScheme ?? 'http',
        linkEndpoints: dto.linkEndpoints.map((e) => ({ host: e.host, port: e.port })),
        vhosts: dto.vhosts ?? ['/'],
        adminUsername: dto.credentials.username,
        adminPasswordEnc: this.box.encrypt(dto.credentials.password, id),
        credentialsVersion: 1,
        credentialsEndpoints: credentialEndpoints(dto.managementScheme ?? 'http', dto.nodes, !!tls),
        tls: tls?.tls ?? null,
        tlsClientKeyEnc: tls?.clientKey
          ? this.box.encrypt(tls.clientKey, tlsClientKeyAad(id))
          : null,
        replication,
        partitionHandling: dto.partitionHandling ?? 'pause_minority',
      });
      await insertNodes(
        m,
        dto.nodes.map((n) => ({ ...n, type: n.type ?? 'disc', clusterId: id })),
      );
      const after = await this.load(m, id);
      await this.audit.record(m, {
        action: 'cluster.create',
        ...this.target(after),
        after: { ...after, credentials: '(set)' },
      });
      return after;
    });
  }

  private async load(m: EntityManager, id: string): Promise<ClusterView> {
    const c = await m.getRepository(ClusterEntity).findOneBy({ id });
    if (!c) throw DomainException.notFound('cluster', id);
    const nodes = await m
      .getRepository(NodeEntity)
      .find({ where: { clusterId: id }, order: { seq: 'ASC' } });
    return clusterView(c, nodes);
  }

  get(id: string): Promise<ClusterView> {
    return this.load(this.ds.manager, id);
  }

  async list(query: ClusterQueryDto): Promise<Page<ClusterView>> {
    const page = await pageOfClusters(
      this.ds,
      { siteId: query.siteId, site: query.site, name: query.name },
      query,
    );
    const ids = page.items.map((c) => c.id);
    const nodes = ids.length
      ? await this.ds
          .getRepository(NodeEntity)
          .find({ where: { clusterId: In(ids) }, order: { seq: 'ASC' } })
      : [];
    return {
      items: page.items.map((c) =>
        clusterView(
          c,
          nodes.filter((n) => n.clusterId === c.id),
        ),
      ),
      nextCursor: page.nextCursor,
    };
  }

  async update(
    id: string,
    dto: UpdateClusterDto,
    expected: number | undefined,
  ): Promise<ClusterView> {
    if (dto.linkEndpoints) {
      await this.clusterAccess.checkNetworks(
        dto.linkEndpoints.map((e, i) => ({ field: `linkEndpoints.${i}.host`, host: e.host })),
      );
    }
    return this.ds.transaction(async (m) => {
      await lockVersioned(m, ClusterEntity, 'cluster', id, expected);
      const before = await this.load(m, id);
      const values: Partial<ClusterEntity> = {};
      const scheme = dto.managementScheme ?? before.managementScheme;
      if (dto.tls !== undefined) {
        const tls = checkClusterTls(dto.tls, scheme);
        values.tls = tls?.tls ?? null;
        values.tlsClientKeyEnc = tls?.clientKey
          ? this.box.encrypt(tls.clientKey, tlsClientKeyAad(id))
          : null;
      } else if (before.tls && scheme !== 'https') {
        throw DomainException.validation(
          [
            {
              field: 'managementScheme',
              message:
                'the cluster is configured for TLS: it is managed over https (remove tls first to use http)',
            },
          ],
          'Invalid TLS settings',
        );
      }
      if (dto.replication !== undefined) {
        const nodes = await m.getRepository(NodeEntity).findBy({ clusterId: id });
        values.replication = checkReplication(
          dto.replication,
          nodes.map((n) => n.name),
        );
      }
      if (dto.name !== undefined) values.name = dto.name;
      if (dto.brokerClusterName !== undefined) values.brokerClusterName = dto.brokerClusterName;
      if (dto.managementScheme !== undefined) values.managementScheme = dto.managementScheme;
      if (dto.linkEndpoints !== undefined)
        values.linkEndpoints = dto.linkEndpoints.map((e) => ({ host: e.host, port: e.port }));
      if (dto.vhosts !== undefined) values.vhosts = dto.vhosts;
      if (dto.partitionHandling !== undefined) values.partitionHandling = dto.partitionHandling;
      // Links to this cluster change scheme and TLS parameters with its TLS settings.
      const tlsChanged = dto.tls !== undefined;
      const write = () =>
        updateVersioned(m, ClusterEntity, 'cluster', id, expected, values as never);
      // Classic replication rules add ha-* keys to this cluster's policies.
      if (values.replication !== undefined) await this.conflicts.around(m, [id], write);
      else await write();
      if (dto.credentials) await this.rebindCredentials(m, id, dto.credentials);
      if (tlsChanged) await notifyClustersChanged(m, await this.connectingTo(m, id));
      const after = await this.load(m, id);
      await this.audit.record(m, {
        action: 'cluster.update',
        ...this.target(after),
        before,
        after,
      });
      return after;
    });
  }

  /** Replaces the admin credentials; the response says only that they changed. */
  async setCredentials(
    id: string,
    dto: CredentialsDto,
    expected: number | undefined,
  ): Promise<ClusterView> {
    return this.ds.transaction(async (m) => {
      await lockVersioned(m, ClusterEntity, 'cluster', id, expected);
      const before = await this.load(m, id);
      await updateVersioned(m, ClusterEntity, 'cluster', id, expected, {
        // Entered now, for the endpoints the cluster has now.
        credentialsEndpoints: credentialEndpoints(
          before.managementScheme,
          before.nodes,
          !!before.tls,
        ),
        adminUsername: dto.username,
        adminPasswordEnc: this.box.encrypt(dto.password, id),
        credentialsVersion: () => 'credentials_version + 1',
      } as never);
      const after = await this.load(m, id);
      // Only the fact of the change is recorded, never a credential value.
      await this.audit.record(m, {
        action: 'cluster.credentials.update',
        ...this.target(after),
        before: {
          adminUsername: before.adminUsername,
          credentialsVersion: before.credentialsVersion,
          credentials: '(unchanged)',
        },
        after: {
          adminUsername: after.adminUsername,
          credentialsVersion: after.credentialsVersion,
          credentials: '(changed)',
        },
      });
      // New credentials usually mean the last passes failed to log in: try again now.
      await notifyClustersChanged(m, [id]);
      return after;
    });
  }

  async remove(id: string, expected: number | undefined): Promise<void> {
    await this.ds.transaction(async (m) => {
      await lockVersioned(m, ClusterEntity, 'cluster', id, expected);
      const before = await this.load(m, id);
      await deleteVersioned(m, ClusterEntity, 'cluster', id, expected);
      await this.audit.record(m, { action: 'cluster.delete', ...this.target(before), before });
    });
  }

  /** The cluster and those whose links or shovels connect to it (their URIs name it). */
  private async connectingTo(m: EntityManager, id: string): Promise<string[]> {
    return clustersConnectingTo(m, id);
  }

  /** Locks the cluster row (node changes serialise per cluster) and bumps its version. */
  async touch(m: EntityManager, clusterId: string, expected?: number): Promise<ClusterEntity> {
    const cluster = await lockVersioned(m, ClusterEntity, 'cluster', clusterId, expected);
    await bumpClusterVersion(m, clusterId);
    return cluster;
  }

  /** For broker clients: decrypts the admin password. Never return this from a controller. */
  access(id: string): Promise<ClusterAccess> {
    return this.clusterAccess.access(id);
  }
}
