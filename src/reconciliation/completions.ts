import type { DataSource } from 'typeorm';
import { AuditService, systemActor } from '../audit/audit.service';
import { notifyClustersChanged } from '../common/changes';
import type { ShovelCompletion, ShovelSettings } from '../links/shovel.entity';
import type { Completion } from './broker-state';
import { describeKey } from '../broker-topology/broker-paths';

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
      await m.query(
        `DELETE FROM managed_objects WHERE cluster_id = $1 AND kind = $2 AND vhost = $3 AND name = $4`,
        [clusterId, c.key.kind, c.key.vhost, c.key.name],
      );
      const [row] = (await m.query(
        `SELECT name, settings, source_cluster_id, destination_cluster_id FROM shovels
          WHERE id = $1 AND completed_at IS NULL FOR UPDATE`,
        [id],
      )) as {
        name: string;
        settings: ShovelSettings;
        source_cluster_id: string;
        destination_cluster_id: string;
      }[];
      if (!row) return;
      const after = row.settings.deleteAfter;
      const completion: ShovelCompletion = {
        reason: c.reason,
        moved: typeof after === 'number' ? after : null,
        runId,
      };
      const [updated] = (await m.query(
        `UPDATE shovels SET completed_at = now(), completion = $2 WHERE id = $1 RETURNING completed_at`,
        [id, JSON.stringify(completion)],
      )) as [{ completed_at: Date }[], number];
      const ends = [row.source_cluster_id, row.destination_cluster_id];
      const sites = (await m.query(`SELECT DISTINCT site_id FROM clusters WHERE id = ANY($1)`, [
        ends,
      ])) as { site_id: string }[];
      await audit.record(m, {
        action: 'shovel.completed',
        actor: systemActor('reconciler'),
        resourceType: 'shovel',
        resourceId: id,
        resourceName: row.name,
        siteIds: sites.map((s) => s.site_id),
        clusterIds: ends,
        after: { completedAt: updated[0]?.completed_at?.toISOString() ?? null, completion },
        details: { runId, object: describeKey(c.key) },
      });
      await notifyClustersChanged(m, ends);
    });
  }
}
