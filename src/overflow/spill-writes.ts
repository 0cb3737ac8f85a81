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
import { applyPlan } from '../reconciliation/apply';
import type { PlanOp } from '../reconciliation/broker-state';
import { applyTargeted, type AuditNaming } from '../reconciliation/recorded-apply';
import { type OrphanSpill, spillTarget } from './overflow-engine.repository';
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
  /** BROKER_WRITE_TIMEOUT_MS */
  writeTimeoutMs: number;
}

const noLogger = { warn: () => undefined };

/**
 * The overflow engine's writes: a spill shovel put or deleted on one cluster, each a targeted
 * plan operation through the shared apply path under that cluster's reconcile lock (a pass
 * holding it makes the write wait for the next tick): ledger row first, audited around the
 * broker call (`overflow.shovel.put` / `overflow.shovel.delete`).
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
    });
  }

  /** A deleted rule's spill shovel goes (its messages stay: on-confirm requeues what is in flight). */
  async removeOrphan(o: OrphanSpill): Promise<void> {
    await this.withClusterLock(o.cluster_id, async (locked) => {
      await this.deleteShovel(
        locked,
        {
          id: o.owner.slice('overflow:'.length),
          name: o.name.slice(spillShovelName('').length),
          clusterIds: [o.cluster_id],
        },
        o.vhost,
        o.name,
        'rule deleted',
      );
    });
  }

  /**
   * Runs `fn` under the cluster's reconcile lock with a client whose writes pass the lock's
   * lease check (a replica resumed after a freeze does not write on a lock it lost).
   */
  private async withClusterLock(
    clusterId: string,
    fn: (locked: Locked) => Promise<void>,
  ): Promise<boolean> {
    const lock = await ClusterLock.tryAcquire(this.deps.lockSessions, clusterId);
    if (!lock) return false;
    try {
      const access = await this.deps.clusters.access(clusterId);
      const client = this.deps.gateway.management(access, {
        writeGuard: () => lock.guardWrite(),
      });
      await fn({ client, lock, siteId: access.cluster.siteId });
      return true;
    } finally {
      await lock.release();
    }
  }

  /** One targeted operation through the shared apply path; a failure throws. */
  private async applyOne(
    locked: Locked,
    clusterId: string,
    op: PlanOp,
    audit: AuditNaming,
  ): Promise<void> {
    const result = await applyTargeted(
      {
        ds: this.deps.ds,
        audit: this.deps.audit,
        logger: noLogger,
        concurrency: 1,
        writeTimeoutMs: this.deps.writeTimeoutMs,
      },
      { apply: (plan, hooks, options) => applyPlan(locked.client, plan, hooks, options) },
      locked.lock,
      { clusterId, siteId: locked.siteId, runId: null, actor: systemActor('overflow'), audit },
      [op],
    );
    const outcome = result.outcomes[0];
    if (!outcome?.ok)
      throw new Error(
        `${op.op === 'delete' ? 'delete' : 'put'} of spill shovel ${op.key.name} failed: ${outcome?.error ?? result.stopped ?? 'not sent'}`,
      );
  }

  private async putShovel(locked: Locked, rule: OverflowRuleEntity, budget: number): Promise<void> {
    const { client } = locked;
    const { ds, box } = this.deps;
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
    // Ledger first (the apply path's claim): a crash after the write never leaves a shovel
    // crossdock does not own.
    await this.applyOne(
      locked,
      rule.clusterId,
      {
        op: 'create',
        key: { kind: 'shovel', vhost: rule.vhost, name },
        after: value,
        owner: overflowOwner(rule.id),
      },
      {
        action: () => 'overflow.shovel.put',
        resourceType: 'overflow-rule',
        resourceId: rule.id,
        resourceName: rule.name,
        clusterIds: [rule.clusterId, rule.remoteClusterId],
        details: () => ({ shovel: name, vhost: rule.vhost, budget }),
      },
    );
  }

  /**
   * Deletes a spill shovel (gone already is fine) and, once the broker answered, its ledger
   * row, audited like its creation.
   */
  private async deleteShovel(
    locked: Locked,
    rule: { id: string; name: string; clusterIds: string[] },
    vhost: string,
    name: string,
    reason: string,
  ): Promise<void> {
    await this.applyOne(
      locked,
      rule.clusterIds[0],
      {
        op: 'delete',
        key: { kind: 'shovel', vhost, name },
        before: {},
        owner: overflowOwner(rule.id),
      },
      {
        action: () => 'overflow.shovel.delete',
        resourceType: 'overflow-rule',
        resourceId: rule.id,
        resourceName: rule.name,
        clusterIds: rule.clusterIds,
        details: () => ({ shovel: name, vhost, reason }),
      },
    );
  }
}

interface Locked {
  client: ManagementClient;
  lock: ClusterLock;
  siteId: string;
}
