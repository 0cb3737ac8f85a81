import type { DataSource } from 'typeorm';
import { linkDefaults, prefetchKey } from '../broker-topology/defaults';
import { systemActor, type AuditService } from '../audit/audit.service';
import type { ClusterEntity } from '../clusters/cluster.entity';
import { notifyClustersChanged } from '../common/changes';
import type { BrokerValue, DesiredObject, PlanOp } from './broker-state';
import { writeValue } from './canonical';
import type { ClusterBroker } from './cluster-broker';
import type { ClusterLock } from './cluster-lock';
import type { RegistrySnapshot } from './compile';
import { applyTargeted, type RecordedApplyDeps } from './recorded-apply';
import { clearRefreshPending, pendingRefreshes, recordAppliedBy } from './rotation.repository';

export interface RefreshDeps extends RecordedApplyDeps {
  ds: DataSource;
  audit: AuditService;
  runId?: string;
}

/**
 * The connecting side of a link-user rotation: what a pass of a cluster whose links log in to a
 * rotating cluster reports back, and the links it restarts on request.
 */

/**
 * After a pass of `clusterId` applied in full:
 * - the clusters whose credential it carried learn that it applied their rotation's new user
 *   (only if it used that user), and reconcile next;
 * - objects a rotating cluster still sees logging in with its previous user are re-created
 *   (delete, then put the desired value): that restarts the link with the stored definition.
 */
export async function afterConnectingPass(
  d: RefreshDeps,
  cluster: Pick<ClusterEntity, 'id' | 'name' | 'siteId'>,
  used: RegistrySnapshot['linkCredentials'],
  desired: readonly DesiredObject[],
  broker: Pick<ClusterBroker, 'apply'>,
  lock: Pick<ClusterLock, 'stillHeld'>,
): Promise<void> {
  await recordLinkCredentialsApplied(d.ds, d.audit, cluster.id, used);
  const targets = Object.keys(used);
  if (targets.length === 0) return;
  const rows = await pendingRefreshes(d.ds, targets);
  for (const r of rows) {
    const mine = desired.filter(
      (o) =>
        (o.kind === 'federation-upstream' || o.kind === 'shovel') &&
        r.refresh_pending.includes(o.name),
    );
    if (mine.length === 0) continue;
    // Best effort: a failure is audited (aroundBrokerCall) and the request stays pending.
    const ok = await refreshAll(d, cluster, r, mine, broker, lock).then(
      () => true,
      () => false,
    );
    if (!ok) continue;
    await d.ds.transaction(async (m) => {
      await clearRefreshPending(
        m,
        r.id,
        mine.map((o) => o.name),
      );
      await notifyClustersChanged(m, [r.cluster_id]);
    });
  }
}

/**
 * Two real changes of every named object, each a targeted update through the apply path, which
 * the broker answers by restarting the link from the stored value: an interim prefetch, then the
 * desired value. Not delete + put: a link started afresh re-declares its upstream exchange, and
 * messages published upstream in between are dropped (measured).
 */
async function refreshAll(
  d: RefreshDeps,
  cluster: Pick<ClusterEntity, 'id' | 'name' | 'siteId'>,
  r: { id: string; cluster_id: string },
  mine: readonly DesiredObject[],
  broker: Pick<ClusterBroker, 'apply'>,
  lock: Pick<ClusterLock, 'stillHeld'>,
): Promise<void> {
  const run = {
    clusterId: cluster.id,
    siteId: cluster.siteId,
    runId: d.runId ?? null,
    actor: systemActor('reconciler'),
    audit: {
      action: () => 'reconcile.refresh',
      resourceType: 'broker-object',
      clusterIds: [cluster.id, r.cluster_id],
      details: () => ({
        rotationId: r.id,
        why: 'the running link still logs in with the previous link user',
        how: 'an interim prefetch, then the desired value',
      }),
    },
  };
  const key = (o: DesiredObject) => ({ kind: o.kind, vhost: o.vhost, name: o.name });
  const step = (from: (o: DesiredObject) => BrokerValue, to: (o: DesiredObject) => BrokerValue) =>
    mine.map((o): PlanOp => ({
      op: 'update',
      key: key(o),
      before: from(o),
      after: to(o),
      owner: o.owner,
      changes: [{ path: prefetchKey(o.kind === 'shovel' ? 'shovel' : 'federation-upstream') }],
    }));
  const desiredValue = (o: DesiredObject) => writeValue(o.kind, o.value);
  for (const ops of [step(desiredValue, interimValue), step(interimValue, desiredValue)]) {
    const result = await applyTargeted(d, broker, lock, run, ops);
    const failed = result.outcomes.find((o) => !o.ok);
    if (failed || result.stopped)
      throw new Error(`link refresh stopped: ${failed?.error ?? result.stopped ?? ''}`);
  }
}

/** The desired value with its prefetch moved by one: a harmless real change. */
export function interimValue(o: Pick<DesiredObject, 'kind' | 'value'>): BrokerValue {
  const v = { ...(writeValue(o.kind, o.value) as Record<string, unknown>) };
  const key = prefetchKey(o.kind === 'shovel' ? 'shovel' : 'federation-upstream');
  const n = typeof v[key] === 'number' ? v[key] : linkDefaults.prefetchCount;
  v[key] = n > 1 ? n - 1 : n + 1;
  return v;
}

async function recordLinkCredentialsApplied(
  ds: DataSource,
  audit: AuditService,
  clusterId: string,
  used: RegistrySnapshot['linkCredentials'],
): Promise<void> {
  for (const [target, cred] of Object.entries(used)) {
    await ds.transaction(async (m) => {
      const rotation = await recordAppliedBy(m, target, clusterId, cred.username);
      if (!rotation) return;
      await audit.record(m, {
        action: 'cluster.link-user.rotation.applied',
        resourceType: 'cluster',
        resourceId: target,
        clusterIds: [target, clusterId],
        actor: systemActor('reconciler'),
        details: { rotationId: rotation.id, appliedBy: clusterId, username: cred.username },
      });
      await notifyClustersChanged(m, [target]);
    });
  }
}
