import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { ManagementClient } from '../broker/management-client';
import { BrokerError } from '../broker/management.errors';
import { BrokerGateway } from '../broker/broker-gateway';
import { ClustersService } from '../clusters/clusters.service';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { redactString } from '../common/logging/redact';
import {
  federationLinkRestartPath,
  shovelRestartPath,
  managementPaths,
} from '../broker-topology/broker-paths';
import { shovelName, upstreamName } from '../broker-topology/names';
import { expectParsed, parseFederationLinks, parseShovels } from '../broker-topology/broker-facts';
import { ReconcileLinksRepository } from './reconcile-links.repository';

/** One broker link the restart addressed, and how it went. */
export interface BrokerLinkRestart {
  /** The node running the broker link (the restart happens there). */
  node: string;
  /** The federated exchange or queue (federation), or the shovel's broker name. */
  object: string;
  /** The broker's id of a federation link (`GET /api/federation-links`). */
  brokerLinkId?: string;
  restarted: boolean;
  /** Why the broker refused or could not be asked (redacted). */
  error?: string;
}

export interface LinkRestartView {
  linkId: string;
  kind: 'federation' | 'shovel';
  name: string;
  /** The cluster whose broker runs the link: downstream (federation) or source (shovel). */
  clusterId: string;
  vhost: string;
  brokerLinks: BrokerLinkRestart[];
}

interface Target {
  node: string;
  object: string;
  brokerLinkId?: string;
  path: string;
}

/**
 * Restarts exactly one registry link's broker links through the management API: the federation
 * links of the link's own upstream (one per federated exchange or queue, on the node running
 * it), or its shovel. Links of the same exchange or queue from other upstreams are not touched,
 * nothing in the desired state changes, and the restart is audited as intent and outcome. A
 * restart is an action on a running process, not a state the reconciler converges to, so it is
 * not a plan operation and does not wait for the cluster lock.
 */
@Injectable()
export class LinkRestartService {
  constructor(
    private readonly links: ReconcileLinksRepository,
    private readonly clusters: ClustersService,
    private readonly audit: AuditService,
    private readonly gateway: BrokerGateway,
  ) {}

  async federation(id: string): Promise<LinkRestartView> {
    const l = await this.links.federationLink(id);
    if (!l) throw DomainException.notFound('federation link', id);
    const name = l.name;
    const clusterId = l.downstreamClusterId;
    const vhost = l.downstreamVhost;
    if (l.paused) throw this.nothingToRestart('federation link', name, 'it is paused');
    const client = await this.client(clusterId);
    const upstream = upstreamName(name, l.brokerUpstreamName);
    const rows = expectParsed(
      await client.send('GET', managementPaths.federationLinks(vhost)),
      parseFederationLinks,
      'a list of federation links',
    );
    const targets = new Map<string, Target>();
    for (const r of rows) {
      if (r.upstream !== upstream || !r.id || !r.node || r.vhost !== vhost) continue;
      targets.set(`${r.id}\u0000${r.node}`, {
        node: r.node,
        object: r.object,
        brokerLinkId: r.id,
        path: federationLinkRestartPath(vhost, r.id, r.node),
      });
    }
    return this.restart(
      { linkId: id, kind: 'federation', name, clusterId, vhost },
      [clusterId, l.upstreamClusterId],
      client,
      [...targets.values()],
    );
  }

  async shovel(id: string): Promise<LinkRestartView> {
    const s = await this.links.shovel(id);
    if (!s) throw DomainException.notFound('shovel', id);
    const name = s.name;
    const clusterId = s.sourceClusterId;
    const vhost = s.sourceVhost;
    if (s.paused) throw this.nothingToRestart('shovel', name, 'it is paused');
    const client = await this.client(clusterId);
    const broker = shovelName(name);
    const rows = expectParsed(
      await client.send('GET', managementPaths.shovels(vhost)),
      parseShovels,
      'a list of shovels',
    );
    // 3.10 can list a shovel twice after an update from another node: it runs once.
    const mine = rows.find((r) => r.name === broker && (!r.vhost || r.vhost === vhost));
    const targets: Target[] = mine
      ? [{ node: mine.node ?? '', object: broker, path: shovelRestartPath(vhost, broker) }]
      : [];
    return this.restart(
      { linkId: id, kind: 'shovel', name, clusterId, vhost },
      [clusterId, s.destinationClusterId],
      client,
      targets,
    );
  }

  private async client(clusterId: string): Promise<ManagementClient> {
    const access = await this.clusters.access(clusterId);
    return this.gateway.management(access);
  }

  private nothingToRestart(label: string, name: string, why: string): DomainException {
    return DomainException.conflict(
      ErrorCode.Conflict,
      `${label} ${name} has no broker link to restart: ${why}`,
    );
  }

  private async restart(
    view: Omit<LinkRestartView, 'brokerLinks'>,
    clusterIds: string[],
    client: ManagementClient,
    targets: Target[],
  ): Promise<LinkRestartView> {
    const label = view.kind === 'federation' ? 'federation link' : 'shovel';
    if (targets.length === 0)
      throw this.nothingToRestart(
        label,
        view.name,
        'the broker lists none (not applied yet, or the broker removed it)',
      );
    const siteIds = await this.links.siteIdsOf(clusterIds);
    const base = {
      resourceType: view.kind === 'federation' ? 'federation-link' : 'shovel',
      resourceId: view.linkId,
      resourceName: view.name,
      siteIds,
      clusterIds,
    };
    const action = `${base.resourceType}.restart`;
    const shown = targets.map(({ node, object, brokerLinkId }) => ({ node, object, brokerLinkId }));
    const intent = await this.audit.recordStandalone({
      ...base,
      action: `${action}.intent`,
      details: { clusterId: view.clusterId, vhost: view.vhost, brokerLinks: shown },
    });
    const brokerLinks: BrokerLinkRestart[] = [];
    let firstError: BrokerError | undefined;
    for (const [i, t] of targets.entries()) {
      try {
        await client.send('DELETE', t.path);
        brokerLinks.push({ ...shown[i], restarted: true });
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        firstError ??= err;
        brokerLinks.push({
          ...shown[i],
          restarted: false,
          error: redactString(err.message).slice(0, 500),
        });
      }
    }
    const ok = brokerLinks.every((b) => b.restarted);
    await this.audit.recordStandalone({
      ...base,
      action: `${action}.${ok ? 'succeeded' : 'failed'}`,
      details: { intentSeq: intent.seq, clusterId: view.clusterId, vhost: view.vhost, brokerLinks },
    });
    // Nothing restarted: the broker's own answer says why (404 gone meanwhile, 5xx, unreachable).
    if (firstError && !brokerLinks.some((b) => b.restarted)) throw firstError;
    return { ...view, brokerLinks };
  }
}
