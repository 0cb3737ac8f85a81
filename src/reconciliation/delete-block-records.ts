import type { DataSource } from 'typeorm';
import type { AuditService } from '../audit/audit.service';
import type { ClusterEntity } from '../clusters/cluster.entity';
import type { Actor } from '../common/actor/actor';
import type { Clock } from '../common/clock/clock';
import type { PlanOp } from './broker-state';
import { deleteBlock } from './delete-guard';
import { clearDeleteBlocked, setDeleteBlocked } from './reconcile-clusters.repository';

export interface DeleteBlockDeps {
  ds: Pick<DataSource, 'transaction'>;
  audit: Pick<AuditService, 'record'>;
  clock: Pick<Clock, 'now'>;
  logger: { warn(obj: object, msg: string): void };
}

/** Shows the block on the cluster (GET /clusters/{id}, link status) and audits it. */
export async function recordDeleteBlock(
  d: DeleteBlockDeps,
  c: ClusterEntity,
  runId: string,
  reason: string,
  deletes: PlanOp[],
  unexplained: PlanOp[],
  actor: Actor,
): Promise<void> {
  const block = deleteBlock({
    clusterId: c.id,
    runId,
    reason,
    deletes,
    unexplained,
    previous: c.deleteBlocked,
    now: d.clock.now(),
  });
  await d.ds.transaction(async (m) => {
    await setDeleteBlocked(m, c.id, block);
    // Once per block, not per pass: the drift schedule repeats a blocked pass.
    if (c.deleteBlocked?.since === block.since) return;
    await d.audit.record(m, {
      action: 'reconcile.delete-blocked',
      actor,
      resourceType: 'cluster',
      resourceId: c.id,
      resourceName: c.name,
      siteIds: [c.siteId],
      clusterIds: [c.id],
      after: { deleteBlocked: block },
      details: { runId },
    });
  });
  d.logger.warn(
    { clusterId: c.id, runId, unexplained: unexplained.length },
    'reconcile pass blocked by the mass-delete guard',
  );
}

export async function clearDeleteBlock(
  d: Pick<DeleteBlockDeps, 'ds' | 'audit'>,
  c: ClusterEntity,
  runId: string,
  actor: Actor,
): Promise<void> {
  await d.ds.transaction(async (m) => {
    await clearDeleteBlocked(m, c.id);
    await d.audit.record(m, {
      action: 'reconcile.delete-block.cleared',
      actor,
      resourceType: 'cluster',
      resourceId: c.id,
      resourceName: c.name,
      siteIds: [c.siteId],
      clusterIds: [c.id],
      before: { deleteBlocked: c.deleteBlocked },
      details: { runId },
    });
  });
}
