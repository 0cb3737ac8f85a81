import type { DataSource } from 'typeorm';
import { AuditService, systemActor } from '../audit/audit.service';
import { notifyClustersChanged } from '../common/changes';
import type { ShovelCompletion } from '../links/shovel.entity';
import type { Completion } from './broker-state';
import { describeKey } from '../broker-topology/broker-paths';
import {
  clusterSiteIds,
  completeShovel,
  forgetManagedObject,
  lockOpenShovel,
} from './reconcile-links.repository';

/**
 * Records what the broker removed by design (Plan.completions): the owning shovel is completed
 * (never re-created until rerun), its ledger row goes, and the completion is audited. The
 * clusters at both ends reconcile next, so the probe path of a shovel that is done goes too.
 */
export async function recordCompletions(
  ds: DataSource,
  audit: AuditService,
  clusterId: string,
  runId: string,
  completions: readonly Completion[],
): Promise<void> {
  for (const c of completions) {
    // Only shovels finish: other owners keep their ledger row, so nothing re-creates the object.
    if (!c.owner.startsWith('shovel:')) continue;
    const id = c.owner.slice('shovel:'.length);
    await ds.transaction(async (m) => {
      await forgetManagedObject(m, clusterId, c.key);
      const row = await lockOpenShovel(m, id);
      if (!row) return;
      const after = row.settings.deleteAfter;
      const completion: ShovelCompletion = {
        reason: c.reason,
        moved: typeof after === 'number' ? after : null,
        runId,
      };
      const completedAt = await completeShovel(m, id, completion);
      const ends = [row.sourceClusterId, row.destinationClusterId];
      const siteIds = await clusterSiteIds(m, ends);
      await audit.record(m, {
        action: 'shovel.completed',
        actor: systemActor('reconciler'),
        resourceType: 'shovel',
        resourceId: id,
        resourceName: row.name,
        siteIds,
        clusterIds: ends,
        after: { completedAt: completedAt?.toISOString() ?? null, completion },
        details: { runId, object: describeKey(c.key) },
      });
      await notifyClustersChanged(m, ends);
    });
  }
}
