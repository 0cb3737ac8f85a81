// What the overflow engine reads and writes in Postgres: its rules, the ledger rows of their
// spill shovels, and each evaluation's outcome.
import type { DataSource } from 'typeorm';
import { type AuditService, systemActor } from '../audit/audit.service';
import type { ClusterTls } from '../clusters/cluster-tls';
import type { Decision } from './overflow-decide';
import { OverflowRuleEntity } from './overflow-rule.entity';

/** A spill shovel in the ledger whose rule is gone. */
export interface OrphanSpill {
  cluster_id: string;
  vhost: string;
  name: string;
  owner: string;
}

/** The remote cluster a spill shovel delivers to, as its link URIs need it. */
export interface SpillTarget {
  id: string;
  site_id: string;
  link_endpoints: { host: string; port: number }[];
  tls: ClusterTls | null;
  /** The TLS of the cluster that runs the shovel (its files for the link). */
  runner_tls: ClusterTls | null;
  load_balancer_host: string | null;
  load_balancer_port: number | null;
}

export function loadRules(ds: DataSource): Promise<OverflowRuleEntity[]> {
  return ds.getRepository(OverflowRuleEntity).find({ order: { seq: 'ASC' } });
}

export async function findOrphans(ds: DataSource): Promise<OrphanSpill[]> {
  return (await ds.query(
    `SELECT m.cluster_id, m.vhost, m.name, m.owner FROM managed_objects m
      WHERE m.owner LIKE 'overflow:%'
        AND NOT EXISTS (SELECT 1 FROM overflow_rules r WHERE 'overflow:' || r.id::text = m.owner)`,
  )) as OrphanSpill[];
}

/** "site/cluster" of a cluster, or undefined when it is gone. */
export async function clusterLabel(ds: DataSource, clusterId: string): Promise<string | undefined> {
  const [c] = (await ds.query(
    `SELECT s.name || '/' || c.name AS name FROM clusters c JOIN sites s ON s.id = c.site_id WHERE c.id = $1`,
    [clusterId],
  )) as { name: string }[];
  return c?.name;
}

export async function spillTarget(
  ds: DataSource,
  remoteClusterId: string,
  runnerClusterId: string,
): Promise<SpillTarget> {
  const [remote] = (await ds.query(
    `SELECT c.id, c.site_id, c.link_endpoints, c.tls, s.load_balancer_host, s.load_balancer_port,
            (SELECT tls FROM clusters WHERE id = $2) AS runner_tls
       FROM clusters c JOIN sites s ON s.id = c.site_id WHERE c.id = $1`,
    [remoteClusterId, runnerClusterId],
  )) as SpillTarget[];
  return remote;
}

export interface Evaluation {
  decision: Decision;
  depth: number | null;
  gateClosed: string | null;
  batch: OverflowRuleEntity['batch'];
  diverted: bigint;
}

/**
 * Stores an evaluation on the rule; a change of state is audited in the same transaction, with
 * the values it was decided on.
 */
export async function recordEvaluation(
  ds: DataSource,
  audit: AuditService,
  rule: OverflowRuleEntity,
  { decision: d, depth, gateClosed, batch, diverted }: Evaluation,
): Promise<void> {
  const changed = d.state !== rule.state;
  const values = {
    depth,
    highWatermark: rule.highWatermark,
    lowWatermark: rule.lowWatermark,
    gate: gateClosed ?? 'open',
    batch,
    // Finished batches plus what the running one has moved so far.
    diverted: Number(diverted) + (batch?.acked ?? 0),
  };
  if (!changed) {
    await ds.query(
      `UPDATE overflow_rules SET state_reason = $2, last_depth = $3, last_evaluated_at = now(), batch = $4, diverted = $5
        WHERE id = $1`,
      [rule.id, d.reason, depth, batch ? JSON.stringify(batch) : null, diverted.toString()],
    );
    return;
  }
  await ds.transaction(async (m) => {
    await m.query(
      `UPDATE overflow_rules SET state = $2, state_reason = $3, state_since = now(), last_depth = $4,
          last_evaluated_at = now(), batch = $5, diverted = $6,
          activations = activations + $7
        WHERE id = $1`,
      [
        rule.id,
        d.state,
        d.reason,
        depth,
        batch ? JSON.stringify(batch) : null,
        diverted.toString(),
        d.action === 'activate' ? 1 : 0,
      ],
    );
    const sites = (await m.query(`SELECT DISTINCT site_id FROM clusters WHERE id = ANY($1)`, [
      [rule.clusterId, rule.remoteClusterId],
    ])) as { site_id: string }[];
    await audit.record(m, {
      action: 'overflow.state.changed',
      resourceType: 'overflow-rule',
      resourceId: rule.id,
      resourceName: rule.name,
      siteIds: sites.map((s) => s.site_id),
      clusterIds: [rule.clusterId, rule.remoteClusterId],
      before: { state: rule.state, reason: rule.stateReason },
      after: { state: d.state, reason: d.reason, values },
      actor: systemActor('overflow'),
    });
  });
}
