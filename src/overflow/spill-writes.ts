import type { DataSource } from 'typeorm';
import { type AuditService, systemActor } from '../audit/audit.service';
import { managementPaths } from '../broker-topology/broker-paths';
import { spillShovelSettings } from '../broker-topology/defaults';
import { localUri, resolveLinkUris } from '../broker-topology/link-uri';
import { encodeShovel } from '../broker-topology/shovel.codec';
import type { BrokerGateway } from '../broker/broker-gateway';
import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import type { ClustersService } from '../clusters/clusters.service';
import { activeLinkCredential } from '../clusters/link-user-credentials';
import type { SecretBox } from '../common/crypto/secret-box';
import type { ClusterLockSessions } from '../database/database.module';
import { ClusterLock } from '../reconciliation/cluster-lock';
import { forgetSpill, type OrphanSpill, ownSpill, spillTarget } from './overflow-rows';
import type { OverflowRuleEntity } from './overflow-rule.entity';
import { overflowOwner, spillPriority, spillShovelName } from './spill-shovel';

export interface SpillWritesDeps {
  ds: DataSource;
  audit: AuditService;
  box: SecretBox;
  clusters: Pick<ClustersService, 'access'>;
  gateway: BrokerGateway;
  lockSessions: ClusterLockSessions;
  /** LINK_USER_NAME: the base name of the link user the spill logs in as at the remote. */
  linkUserName: string;
}

/**
 * The overflow engine's writes: a spill shovel put or deleted on one cluster, each under that
 * cluster's reconcile lock (a pass holding it makes the write wait for the next tick), ledger
 * row first, audited around the broker call.
 */
export class SpillWrites {
  constructor(private readonly deps: SpillWritesDeps) {}

  /**
   * Puts the rule's spill shovel with `budget` as its src-delete-after; false when a reconcile
   * pass holds the cluster.
   */
  start(rule: OverflowRuleEntity, budget: number): Promise<boolean> {
    return this.withClusterLock(rule.clusterId, (locked) => this.putShovel(locked, rule, budget));
  }

  /** Deletes the rule's spill shovel and its ledger row; false when a pass holds the cluster. */
  stop(rule: OverflowRuleEntity, reason: string): Promise<boolean> {
    const name = spillShovelName(rule.name);
    return this.withClusterLock(rule.clusterId, async (locked) => {
      await this.deleteShovel(
        locked,
        { id: rule.id, name: rule.name, clusterIds: [rule.clusterId, rule.remoteClusterId] },
        rule.vhost,
        name,
        reason,
      );
      await forgetSpill(this.deps.ds, rule.clusterId, rule.vhost, name);
    });
  }

  /** A deleted rule's spill shovel goes (its messages stay: on-confirm requeues what is in flight). */
  async removeOrphan(o: OrphanSpill): Promise<void> {
    await this.withClusterLock(o.cluster_id, async (client) => {
      await this.deleteShovel(
        client,
        {
          id: o.owner.slice('overflow:'.length),
          name: o.name.slice(spillShovelName('').length),
          clusterIds: [o.cluster_id],
        },
        o.vhost,
        o.name,
        'rule deleted',
      );
      await forgetSpill(this.deps.ds, o.cluster_id, o.vhost, o.name);
    });
  }

  /**
   * Runs `fn` under the cluster's reconcile lock with a client whose writes pass the lock's
   * lease check (a replica resumed after a freeze does not write on a lock it lost).
   */
  private async withClusterLock(
    clusterId: string,
    fn: (client: ManagementClient) => Promise<void>,
  ): Promise<boolean> {
    const lock = await ClusterLock.tryAcquire(this.deps.lockSessions, clusterId);
    if (!lock) return false;
    try {
      const client = this.deps.gateway.management(await this.deps.clusters.access(clusterId), {
        writeGuard: () => lock.guardWrite(),
      });
      await fn(client);
      return true;
    } finally {
      await lock.release();
    }
  }

  private async putShovel(
    client: ManagementClient,
    rule: OverflowRuleEntity,
    budget: number,
  ): Promise<void> {
    const { ds, box, audit } = this.deps;
    const name = spillShovelName(rule.name);
    const remote = await spillTarget(ds, rule.remoteClusterId, rule.clusterId);
    const cred = await activeLinkCredential(ds, box, rule.remoteClusterId, this.deps.linkUserName);
    const uris = resolveLinkUris(
      {
        loadBalancer:
          remote.load_balancer_host && remote.load_balancer_port
            ? { host: remote.load_balancer_host, port: remote.load_balancer_port }
            : null,
        linkEndpoints: remote.link_endpoints,
        credentials: { username: cred.username, password: cred.password },
        tls: remote.tls,
        runnerFiles: remote.runner_tls?.linkFiles ?? null,
      },
      rule.remoteVhost,
    );
    // The shovel declares its source queue: the same arguments (queue type!) or the declare fails.
    const source = await client.get<{ arguments?: Record<string, unknown> }>(
      managementPaths.queue(rule.vhost, rule.queue),
    );
    let destinationQueueArgs: Record<string, unknown> | undefined;
    if (rule.remoteQueue) {
      const remoteClient = this.deps.gateway.management(
        await this.deps.clusters.access(rule.remoteClusterId),
      );
      const dest = await remoteClient
        .get<{ arguments?: Record<string, unknown> }>(
          managementPaths.queue(rule.remoteVhost, rule.remoteQueue),
        )
        .catch((err: unknown) =>
          err instanceof BrokerNotFoundError ? undefined : Promise.reject(err),
        );
      destinationQueueArgs = dest?.arguments;
    }
    const value = encodeShovel({
      sourceUris: [localUri(rule.vhost)],
      sourceQueue: rule.queue,
      sourceQueueArgs: source.arguments ?? {},
      // Below local consumers: the spill only gets what they have no capacity for.
      consumerArgs: { 'x-priority': spillPriority },
      destinationUris: uris,
      ...(rule.remoteQueue
        ? { destinationQueue: rule.remoteQueue, destinationQueueArgs }
        : {
            destinationExchange: rule.remoteExchange ?? undefined,
            destinationExchangeKey: rule.remoteRoutingKey ?? undefined,
          }),
      settings: {
        ...spillShovelSettings(rule.prefetch),
        deleteAfter: budget,
        addForwardHeaders: false,
        addTimestampHeader: false,
      },
    });
    // Ledger first: a crash after the write never leaves a shovel crossdock does not own.
    await ownSpill(ds, rule.clusterId, rule.vhost, name, overflowOwner(rule.id));
    await audit.aroundBrokerCall(
      {
        action: 'overflow.shovel.put',
        resourceType: 'overflow-rule',
        resourceId: rule.id,
        resourceName: rule.name,
        clusterIds: [rule.clusterId, rule.remoteClusterId],
        details: { shovel: name, vhost: rule.vhost, budget },
        actor: systemActor('overflow'),
      },
      () => client.put(managementPaths.shovel(rule.vhost, name), { value }),
    );
  }

  /** Deletes a spill shovel (gone already is fine), audited like its creation. */
  private async deleteShovel(
    client: ManagementClient,
    rule: { id: string; name: string; clusterIds: string[] },
    vhost: string,
    name: string,
    reason: string,
  ): Promise<void> {
    await this.deps.audit.aroundBrokerCall(
      {
        action: 'overflow.shovel.delete',
        resourceType: 'overflow-rule',
        resourceId: rule.id,
        resourceName: rule.name,
        clusterIds: rule.clusterIds,
        details: { shovel: name, vhost, reason },
        actor: systemActor('overflow'),
      },
      () =>
        client.delete(managementPaths.shovel(vhost, name)).catch((err: unknown) => {
          if (!(err instanceof BrokerNotFoundError)) throw err;
        }),
    );
  }
}
