import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { BrokerGateway } from '../broker/broker-gateway';
import { ClusterEntity } from '../clusters/cluster.entity';
import { ClustersService } from '../clusters/clusters.service';
import { NodeEntity } from '../clusters/node.entity';
import { SecretBox } from '../common/crypto/secret-box';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { AppConfig } from '../config/config.module';
import { FederationLinksService } from '../links/federation-links.service';
import { ShovelsService } from '../links/shovels.service';
import { PoliciesService } from '../policies/policies.service';
import { TopologyService } from '../topology/topology.service';
import { topologyRepository } from '../topology/topology.repository';
import { SiteEntity } from '../sites/site.entity';
import { compileCluster } from '../reconciliation/compile';
import { loadKnownNames } from '../reconciliation/known-objects';
import { observeBrokerState } from '../reconciliation/observe';
import { loadSnapshot } from '../reconciliation/registry-snapshot';
import { definitionsFile, type DefinitionsFile } from './definitions-file';
import {
  existingLinksDownstreamOf,
  existingShovelsFrom,
  ledgerKeys,
  recordOwnedOriginal,
  takenNames,
  type NamedTable,
} from './definitions.repository';
import type { ClusterAddresses } from './import-patterns';
import {
  planImport,
  type ImportConflict,
  type ImportItem,
  type ImportWarning,
} from './import-plan';
import { clusterAuditTarget } from '../audit/audit-target';

/** What export URIs carry instead of the link user's password (no URI escaping needed). */
export const linkPasswordPlaceholder = '(link-user-password)';

export interface ImportResult {
  clusterId: string;
  dryRun: boolean;
  vhosts: string[];
  items: ImportItem[];
  warnings: ImportWarning[];
  conflicts: ImportConflict[];
  /** Resources created (empty on a dry run). */
  created: { type: string; id: string; name: string }[];
}

@Injectable()
export class DefinitionsService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly env: AppConfig,
    private readonly audit: AuditService,
    private readonly clusters: ClustersService,
    private readonly policies: PoliciesService,
    private readonly links: FederationLinksService,
    private readonly shovels: ShovelsService,
    private readonly gateway: BrokerGateway,
    private readonly topology: TopologyService,
  ) {}

  /**
   * The cluster's compiled desired state as a definitions file. Overlaps of regex patterns are
   * decided on the names its last pass observed, so no broker is contacted: the file is what the
   * next pass would converge to. With `includeCredentials` (the caller checked the admin role)
   * URIs carry the real link user password and the access is audited (without the secret).
   */
  async export(clusterId: string, includeCredentials: boolean): Promise<DefinitionsFile> {
    const cluster = await this.ds.getRepository(ClusterEntity).findOneBy({ id: clusterId });
    if (!cluster) throw DomainException.notFound('cluster', clusterId);
    const snapshot = await loadSnapshot(
      this.ds,
      this.box,
      clusterId,
      await loadKnownNames(this.ds, clusterId),
      this.env.LINK_USER_NAME,
      this.env.FEDERATION_QUEUE_MAX_BYTES,
      includeCredentials
        ? {}
        : { placeholderCredentials: true, placeholderPassword: linkPasswordPlaceholder },
    );
    const file = definitionsFile(compileCluster(snapshot));
    if (includeCredentials) {
      await this.audit.recordStandalone({
        action: 'cluster.definitions.export-credentials',
        ...clusterAuditTarget(cluster),
        details: {
          credentials: 'included',
          parameters: file.parameters.length,
          policies: file.policies.length,
        },
      });
    }
    return file;
  }

  /**
   * Reads the cluster's upstreams, upstream sets, policies and shovels (one bulk observation)
   * and maps them to crossdock resources. Not a dry run: creates them in one transaction (each
   * audited, conflict-checked) and records the original broker objects in the ownership ledger
   * as owned by the new resources, so the next pass creates crossdock's objects first and then
   * deletes the originals (creates precede deletes in every plan): no gap, no two policies left
   * competing for one object.
   */
  async import(
    clusterId: string,
    dryRun: boolean,
    vhosts?: string[],
    topology = false,
  ): Promise<ImportResult> {
    const access = await this.clusters.access(clusterId);
    const c = access.cluster;
    const chosen = vhosts ?? c.vhosts;
    const unmanaged = chosen.filter((v) => !c.vhosts.includes(v));
    if (unmanaged.length)
      throw DomainException.validation(
        unmanaged.map((v) => ({
          field: 'vhosts',
          message: `vhost ${JSON.stringify(v)} is not managed on cluster ${c.name} (managed: ${c.vhosts.join(', ')})`,
        })),
      );
    const observed = await observeBrokerState(this.gateway.management(access), chosen);
    const ledger = await ledgerKeys(this.ds, clusterId);
    const names = (table: NamedTable) => takenNames(this.ds, table);
    const existingLinks = await existingLinksDownstreamOf(this.ds, clusterId);
    const existingShovels = await existingShovelsFrom(this.ds, clusterId);
    const all = await this.addresses();
    const me = all.find((x) => x.id === clusterId) as ClusterAddresses;
    const plan = planImport({
      cluster: me,
      clusters: all,
      vhosts: chosen,
      observed: observed.objects,
      owned: new Set(ledger.map((e) => `${e.kind}\u0001${e.vhost}\u0001${e.name}`)),
      ...(topology
        ? {
            topology: {
              declared: await topologyRepository.declaredIds(this.ds.manager, clusterId),
            },
          }
        : {}),
      takenNames: {
        policies: await names('policies'),
        links: await names('federation_links'),
        shovels: await names('shovels'),
      },
      existing: { links: existingLinks, shovels: existingShovels },
    });
    const result: ImportResult = {
      clusterId,
      dryRun,
      vhosts: chosen,
      items: plan.items,
      warnings: plan.warnings,
      conflicts: plan.conflicts,
      created: [],
    };
    if (dryRun) return result;
    if (plan.conflicts.length)
      throw DomainException.conflict(
        ErrorCode.Conflict,
        `${plan.conflicts[0].detail}${plan.conflicts.length > 1 ? ` (and ${plan.conflicts.length - 1} more, see conflicts)` : ''}: nothing imported`,
        { conflicts: plan.conflicts },
      );
    await this.ds.transaction(async (m) => {
      for (const r of plan.resources) {
        let id: string;
        if (r.type === 'policy') {
          id = (
            await this.policies.createIn(m, {
              name: r.name,
              scope: 'cluster',
              clusterId,
              vhost: r.vhost,
              pattern: r.pattern,
              applyTo: r.applyTo,
              priority: r.priority,
              definition: r.definition,
            })
          ).id;
        } else if (r.type === 'federation-link') {
          id = (
            await this.links.createIn(
              m,
              {
                name: r.name,
                kind: r.kind,
                downstream: { clusterId, vhost: r.downstreamVhost },
                upstream: {
                  clusterId: r.upstreamClusterId,
                  vhost: r.upstreamVhost,
                  ...(r.upstreamObject !== undefined ? { [r.kind]: r.upstreamObject } : {}),
                },
                targets: r.targets,
                targetPrefix: r.targetPrefix,
                settings: r.settings,
              },
              { brokerUpstreamName: r.brokerUpstreamName },
            )
          ).id;
        } else {
          id = (
            await this.shovels.createIn(m, {
              name: r.name,
              source: {
                clusterId,
                vhost: r.sourceVhost,
                queue: r.sourceQueue,
                exchange: r.sourceExchange,
                exchangeKey: r.sourceExchangeKey,
              },
              destination: {
                clusterId: r.destinationClusterId,
                vhost: r.destinationVhost,
                queue: r.destinationQueue,
                exchange: r.destinationExchange,
                exchangeKey: r.destinationExchangeKey,
              },
              settings: r.settings,
            })
          ).id;
        }
        const owner = `${r.type === 'federation-link' ? 'link' : r.type}:${id}`;
        // The reconciler deletes owned objects it no longer wants, after its own creates.
        for (const o of r.originals) await recordOwnedOriginal(m, clusterId, o, owner);
        result.created.push({ type: r.type, id, name: r.name });
      }
      for (const r of plan.topology) {
        const view =
          r.type === 'binding'
            ? await this.topology.createIn(m, {
                kind: 'binding',
                dto: { clusterId, vhost: r.vhost, ...r.binding },
              })
            : r.type === 'exchange'
              ? await this.topology.createIn(m, {
                  kind: 'exchange',
                  dto: { clusterId, vhost: r.vhost, name: r.name, ...r.exchange },
                })
              : await this.topology.createIn(m, {
                  kind: 'queue',
                  dto: { clusterId, vhost: r.vhost, name: r.name, ...r.queue },
                });
        result.created.push({ type: r.type, id: view.id, name: r.name });
      }
      await this.audit.record(m, {
        action: 'cluster.definitions.import',
        ...clusterAuditTarget(c),
        details: {
          vhosts: chosen,
          created: result.created,
          items: plan.items.map((i) => ({
            kind: i.kind,
            vhost: i.vhost,
            name: i.name,
            action: i.action,
          })),
        },
      });
    });
    return result;
  }

  /** Every cluster's AMQP addresses: nodes, link endpoints, its site's load balancer. */
  private async addresses(): Promise<ClusterAddresses[]> {
    const clusters = await this.ds.getRepository(ClusterEntity).find();
    const nodes = await this.ds.getRepository(NodeEntity).find();
    const sites = await this.ds.getRepository(SiteEntity).find();
    return clusters.map((c) => {
      const site = sites.find((s) => s.id === c.siteId);
      return {
        id: c.id,
        name: `${site?.name ?? c.siteId}/${c.name}`,
        siteId: c.siteId,
        vhosts: c.vhosts,
        addresses: [
          ...nodes
            .filter((n) => n.clusterId === c.id)
            .map((n) => ({ host: n.host, port: n.amqpPort })),
          ...c.linkEndpoints,
          ...(site?.loadBalancerHost && site.loadBalancerPort
            ? [{ host: site.loadBalancerHost, port: site.loadBalancerPort }]
            : []),
        ],
      };
    });
  }
}
