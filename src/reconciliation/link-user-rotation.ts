import type { DataSource } from 'typeorm';
import { systemActor, type AuditService } from '../audit/audit.service';
import type { ClusterEntity } from '../clusters/cluster.entity';
import { readSlotSecret, writeSlotSecret } from '../clusters/link-user-credentials';
import { notifyClustersChanged } from '../common/changes';
import type { SecretBox } from '../common/crypto/secret-box';
import { redactString } from '../common/logging/redact';
import type { ClusterLock } from './cluster-lock';
import { linkUris } from '../broker-topology/link-uri';
import type { RegistrySnapshot } from './compile';
import type { ClusterBroker } from './cluster-broker';
import type { BrokerConnection } from './link-user';
import { applyTargeted, type RecordedApplyDeps } from './recorded-apply';
import { isLinkTarget } from './registry-snapshot';
import { userKey } from '../broker-topology/access.codec';
import { clusterAuditTarget } from '../audit/audit-target';

export interface LinkUserDeps extends RecordedApplyDeps {
  ds: DataSource;
  box: SecretBox;
  audit: AuditService;
  /** The pass the rotation's writes belong to. */
  runId?: string;
}

export { unfinishedRotation, type RotationRow } from './rotation.repository';
import {
  connectingClusterRows,
  markCompleted,
  markSwitching,
  recordVerifyFailure,
  recordWaitReason,
  requestRefresh,
  setActiveSlot,
  siteLoadBalancer,
  unfinishedRotation,
} from './rotation.repository';

/** Clusters whose broker objects (upstreams, shovels) carry this cluster's link credential. */
export async function connectingClusters(ds: DataSource, clusterId: string): Promise<string[]> {
  const rows = await connectingClusterRows(ds, clusterId);
  return rows.map((r) => r.id).sort();
}

/** The URIs other clusters use to reach `cluster` (same endpoints, same vhosts), with `cred`. */
async function uris(
  ds: DataSource,
  cluster: ClusterEntity,
  cred: { username: string; password: string },
  vhosts: string[],
): Promise<string[]> {
  const site = await siteLoadBalancer(ds, cluster.siteId);
  const s: Pick<RegistrySnapshot, 'clusters' | 'sites' | 'linkCredentials'> = {
    clusters: {
      [cluster.id]: {
        id: cluster.id,
        siteId: cluster.siteId,
        brokerClusterName: cluster.brokerClusterName,
        linkEndpoints: cluster.linkEndpoints,
        tls: cluster.tls,
      },
    },
    sites: {
      [cluster.siteId]: {
        id: cluster.siteId,
        loadBalancer: site?.host && site.port ? { host: site.host, port: site.port } : null,
      },
    },
    linkCredentials: { [cluster.id]: cred },
  };
  return vhosts.flatMap((v) => linkUris(s, cluster.id, v));
}

/**
 * The rotation's part of a pass on a cluster other clusters connect to (under its lock, after
 * the plan was applied: the plan wrote the link users the rotation needs, see access-plan.ts):
 * - rotation `verifying`: the new slot's user (written by the plan) is proven with a real AMQP
 *   login on every endpoint and vhost; only then does the active slot switch (other clusters'
 *   URIs follow on their next pass) and the connecting clusters are told to reconcile;
 * - rotation `switching`: the previous user stays (in the plan) until every connecting cluster
 *   has applied the new URIs (recorded by their passes) and no connection logs in with it any
 *   more (links it names are restarted by their cluster); then it is deleted, a targeted
 *   operation through the same apply path, and the rotation completes.
 * A failed verification leaves everything as it was and is retried on the next pass.
 */
export async function advanceRotation(
  d: LinkUserDeps,
  cluster: ClusterEntity,
  broker: Pick<ClusterBroker, 'connectionsOf' | 'verifyLogins' | 'apply'>,
  lock: Pick<ClusterLock, 'stillHeld'>,
  /** Usernames whose user this pass's plan wrote (created or updated) successfully. */
  written: ReadonlySet<string>,
): Promise<void> {
  const rotation = await unfinishedRotation(d.ds, cluster.id);
  if (!rotation) return;
  const vhosts = [...new Set(await isLinkTarget(d.ds, cluster.id))];
  const audit = (action: string, details: Record<string, unknown>) =>
    d.audit.recordStandalone({
      action,
      ...clusterAuditTarget(cluster),
      actor: systemActor('reconciler'),
      details,
    });

  if (rotation.status === 'verifying') {
    const next = await readSlotSecret(d.ds.manager, d.box, cluster.id, rotation.to_slot);
    if (!next) throw new Error(`rotation ${rotation.id} has no credential in its new slot`);
    const cred = { ...next, username: rotation.to_username };
    let checked = 0;
    try {
      if (vhosts.length) {
        if (written.has(cred.username))
          await audit('cluster.link-user.write', {
            rotationId: rotation.id,
            username: cred.username,
            vhosts,
          });
        const list = await uris(d.ds, cluster, cred, vhosts);
        await broker.verifyLogins(list);
        checked = list.length;
      }
    } catch (err) {
      const message = redactString(err instanceof Error ? err.message : String(err));
      await recordVerifyFailure(d.ds, rotation.id, message);
      if (message !== rotation.last_error)
        await audit('cluster.link-user.rotation.verify-failed', {
          rotationId: rotation.id,
          username: cred.username,
          error: message,
        });
      return;
    }
    const waiting = await connectingClusters(d.ds, cluster.id);
    await d.ds.transaction(async (m) => {
      await setActiveSlot(m, cluster.id, rotation.to_slot);
      await markSwitching(m, rotation.id);
      await d.audit.record(m, {
        action: 'cluster.link-user.rotation.switch',
        resourceType: 'cluster',
        resourceId: cluster.id,
        resourceName: cluster.name,
        siteIds: [cluster.siteId],
        clusterIds: [cluster.id, ...waiting],
        actor: systemActor('reconciler'),
        before: { username: rotation.from_username },
        after: { username: rotation.to_username },
        details: { rotationId: rotation.id, verifiedLogins: checked, waitingFor: waiting },
      });
      await notifyClustersChanged(m, waiting);
    });
    // The previous user (the active one until now, written by this plan) stays in place for
    // the clusters that have not switched yet.
    return;
  }

  // switching
  const applied = new Set(rotation.applied_by);
  const waiting = (await connectingClusters(d.ds, cluster.id)).filter((id) => !applied.has(id));
  // The previous user stays (the plan keeps it) until every connecting cluster switched.
  if (waiting.length) return;
  // Every connecting cluster stored the new URIs, but a running link can keep its old definition
  // (a write the broker stored without restarting the link): deleting the user would cut it, and
  // its supervisor would retry with the old credential forever. Wait until nobody logs in with it.
  const lingering = await broker.connectionsOf(rotation.from_username);
  if (lingering.length) {
    const names = staleObjectNames(lingering);
    const shown = lingering
      .slice(0, 5)
      .map((c) => c.user_provided_name ?? c.name)
      .join('; ');
    await d.ds.transaction(async (m) => {
      await recordWaitReason(
        m,
        rotation.id,
        redactString(
          `${lingering.length} connection(s) still log in as ${rotation.from_username}: ${shown}`,
        ),
      );
      if (names.length === 0) return;
      // Ask the connecting clusters to re-create those objects: once per set, then every 30 s.
      if (!(await requestRefresh(m, rotation.id, names))) return;
      await d.audit.record(m, {
        action: 'cluster.link-user.rotation.refresh-requested',
        resourceType: 'cluster',
        resourceId: cluster.id,
        resourceName: cluster.name,
        siteIds: [cluster.siteId],
        clusterIds: [cluster.id, ...rotation.applied_by],
        actor: systemActor('reconciler'),
        details: { rotationId: rotation.id, objects: names, connections: lingering.length },
      });
      await notifyClustersChanged(m, rotation.applied_by);
    });
    return;
  }
  if (!(await lock.stillHeld()))
    throw new Error('the cluster lock was lost before the link user delete');
  // Deleting the user deletes its permissions with it.
  const target = clusterAuditTarget(cluster);
  const result = await applyTargeted(
    d,
    broker,
    lock,
    {
      clusterId: cluster.id,
      siteId: cluster.siteId,
      runId: d.runId ?? null,
      actor: systemActor('reconciler'),
      audit: {
        action: () => 'cluster.link-user.delete',
        resourceType: target.resourceType,
        resourceId: target.resourceId,
        resourceName: target.resourceName,
        clusterIds: target.clusterIds,
        details: () => ({ rotationId: rotation.id, username: rotation.from_username }),
      },
    },
    [
      {
        op: 'delete',
        key: userKey(rotation.from_username),
        before: {},
        owner: `cluster:${cluster.id}`,
      },
    ],
  );
  const outcome = result.outcomes[0];
  if (!outcome?.ok)
    throw new Error(
      `the previous link user was not deleted: ${outcome?.error ?? result.stopped ?? 'not sent'}`,
    );
  await d.ds.transaction(async (m) => {
    await writeSlotSecret(m, d.box, cluster.id, rotation.from_slot, null);
    await markCompleted(m, rotation.id);
    await d.audit.record(m, {
      action: 'cluster.link-user.rotation.complete',
      ...clusterAuditTarget(cluster),
      actor: systemActor('reconciler'),
      details: {
        rotationId: rotation.id,
        retired: rotation.from_username,
        active: rotation.to_username,
      },
    });
  });
}

/**
 * Crossdock upstreams and shovels named by connections (federation links call theirs
 * `Federation link (upstream: <name>, policy: ...)`, shovels carry their name too).
 */
export function staleObjectNames(connections: readonly BrokerConnection[]): string[] {
  const names = new Set<string>();
  for (const c of connections) {
    for (const m of (c.user_provided_name ?? '').matchAll(/crossdock\.(?:up|sh)\.[A-Za-z0-9_-]+/g))
      names.add(m[0]);
  }
  return [...names].sort();
}
