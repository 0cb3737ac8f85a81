import type { DataSource } from 'typeorm';
import { linkDefaults, prefetchKey } from '../broker-topology/defaults';
import { systemActor, type AuditService } from '../audit/audit.service';
import type { ManagementClient } from '../broker/management-client';
import type { ClusterEntity } from '../clusters/cluster.entity';
import { notifyClustersChanged } from '../common/changes';
import type { BrokerValue, DesiredObject } from './broker-state';
import { writeRequest } from '../broker-topology/broker-paths';
import { writeValue } from './canonical';
import type { ClusterLock } from './cluster-lock';
import type { RegistrySnapshot } from './compile';

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
  d: { ds: DataSource; audit: AuditService; writeTimeoutMs: number },
  cluster: Pick<ClusterEntity, 'id' | 'name' | 'siteId'>,
  used: RegistrySnapshot['linkCredentials'],
  desired: readonly DesiredObject[],
  client: ManagementClient,
  lock: ClusterLock,
): Promise<void> {
  await recordLinkCredentialsApplied(d.ds, d.audit, cluster.id, used);
  const targets = Object.keys(used);
  if (targets.length === 0) return;
  const rows = (await d.ds.query(
    `SELECT id, cluster_id, refresh_pending FROM link_user_rotations
     WHERE cluster_id = ANY($1) AND status = 'switching' AND cardinality(refresh_pending) > 0`,
    [targets],
  )) as { id: string; cluster_id: string; refresh_pending: string[] }[];
  for (const r of rows) {
    const mine = desired.filter(
      (o) =>
        (o.kind === 'federation-upstream' || o.kind === 'shovel') &&
        r.refresh_pending.includes(o.name),
    );
    if (mine.length === 0) continue;
    // Best effort: a failure is audited (aroundBrokerCall) and the request stays pending.
    const ok = await refreshAll(d, cluster, r, mine, client, lock).then(
      () => true,
      () => false,
    );
    if (!ok) continue;
    await d.ds.transaction(async (m) => {
      await m.query(
        `UPDATE link_user_rotations SET refresh_pending = ARRAY(
           SELECT x FROM unnest(refresh_pending) AS x WHERE NOT (x = ANY($2))), updated_at = now()
         WHERE id = $1`,
        [r.id, mine.map((o) => o.name)],
      );
      await notifyClustersChanged(m, [r.cluster_id]);
    });
  }
}

async function refreshAll(
  d: { audit: AuditService; writeTimeoutMs: number },
  cluster: Pick<ClusterEntity, 'id' | 'name' | 'siteId'>,
  r: { id: string; cluster_id: string },
  mine: readonly DesiredObject[],
  client: ManagementClient,
  lock: ClusterLock,
): Promise<void> {
  for (const o of mine) {
    if (!(await lock.stillHeld()))
      throw new Error('the cluster lock was lost before a link refresh');
    await d.audit.aroundBrokerCall(
      {
        action: 'reconcile.refresh',
        resourceType: 'broker-object',
        resourceName: `${o.kind} ${o.vhost} ${o.name}`.slice(0, 255),
        siteIds: [cluster.siteId],
        clusterIds: [cluster.id, r.cluster_id],
        actor: systemActor('reconciler'),
        details: {
          rotationId: r.id,
          why: 'the running link still logs in with the previous link user',
          how: 'an interim prefetch, then the desired value',
        },
      },
      async () => {
        // Two real changes, each of which the broker answers by restarting the link from the
        // stored value. Not delete + put: a link started afresh re-declares its upstream
        // exchange, and messages published upstream in between are dropped (measured).
        const opts = { timeoutMs: d.writeTimeoutMs };
        for (const value of [interimValue(o), writeValue(o.kind, o.value)]) {
          const req = writeRequest(o, value);
          await client.send(req.method, req.path, req.body, opts);
        }
      },
    );
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
      const rows = (await m.query(
        `UPDATE link_user_rotations SET applied_by = array_append(applied_by, $2::uuid), updated_at = now()
         WHERE cluster_id = $1 AND status = 'switching' AND to_username = $3 AND NOT ($2::uuid = ANY(applied_by))
         RETURNING id`,
        [target, clusterId, cred.username],
      )) as [{ id: string }[], number];
      const rotation = rows[0]?.[0];
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
