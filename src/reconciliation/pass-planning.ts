import type { DataSource } from 'typeorm';
import type { AuditService } from '../audit/audit.service';
import type { ClusterAccess } from '../clusters/cluster-access.service';
import type { SecretBox } from '../common/crypto/secret-box';
import { probeVhost } from '../probes/probe-topology';
import { compileAccess, diffAccess, loadAccessWant, type AccessWant } from './access-plan';
import type { DesiredObject, ObservedObject, ObservedState, Plan, PlanOp } from './broker-state';
import { compileCluster, type CompileResult, type RegistrySnapshot } from './compile';
import { recordCompletions } from './completions';
import { diffStates } from './diff';
import { expectedFederationQueues } from './expected-federation-queues';
import { storeKnownNames } from './known-objects';
import { cleanupObjects, loadLinkCleanups, type LinkCleanup } from './link-cleanup';
import { settleLedger } from './pass-ledger';
import { assessPlan, type PlanAssessment } from './pass-plan';
import { storeBrokerVersion } from './reconcile-clusters.repository';
import type { RunOptions } from './reconcile-run';
import { loadSnapshot } from './registry-snapshot';

export interface PlanningDeps {
  ds: DataSource;
  box: SecretBox;
  audit: AuditService;
  /** LINK_USER_NAME */
  linkUserName: string;
  /** FEDERATION_QUEUE_MAX_BYTES */
  federationQueueMaxBytes: number;
  /** The access objects on the broker (probe vhost, link users, permissions). */
  observeAccess(want: AccessWant): Promise<{ objects: ObservedObject[]; requests: number }>;
  /**
   * Logs in as the link user on another cluster's link URIs (that cluster's TLS and allowed
   * networks): rejects when the login or the vhost is refused.
   */
  verifyLinkLogin(clusterId: string, uris: string[]): Promise<void>;
}

export /** What a pass compiled and planned, once the cluster was observed in full. */
interface PassPlan {
  snapshot: RegistrySnapshot;
  desired: CompileResult;
  heldBackOwners: Set<string>;
  /** The access objects the plan keeps in place (probe vhost, link users, permissions). */
  access: DesiredObject[];
  plan: Plan;
  cleanups: LinkCleanup[];
  assessment: PlanAssessment;
}

/** Compile, ledger, diff and assessment: everything up to the first write (no writes). */
export async function planPass(
  d: PlanningDeps,
  access: ClusterAccess,
  siteName: string | undefined,
  observedInFull: ObservedState,
  opts: RunOptions,
  runId: string,
): Promise<PassPlan> {
  const c = access.cluster;
  const clusterId = c.id;
  await storeKnownNames(d.ds, clusterId, observedInFull);
  // Write-time validation and link status judge by the version each pass just saw.
  if ((c.brokerVersion ?? null) !== (observedInFull.brokerVersion ?? null))
    await storeBrokerVersion(d.ds, clusterId, observedInFull.brokerVersion ?? null);
  const loaded = await loadSnapshot(
    d.ds,
    d.box,
    clusterId,
    observedInFull,
    d.linkUserName,
    d.federationQueueMaxBytes,
  );
  const snapshot = {
    ...loaded,
    cluster: {
      ...loaded.cluster,
      name: siteName,
      brokerVersion: observedInFull.brokerVersion ?? null,
    },
  };
  const desired = compileCluster(snapshot);
  const heldBackOwners = new Set(desired.heldBack.map((h) => h.owner));
  const { observed, live, stale, engineHeld } = await settleLedger(
    d.ds,
    clusterId,
    c.vhosts,
    observedInFull,
    desired,
  );
  const cleanups = await loadLinkCleanups(d.ds, clusterId);
  const diffed = diffStates(desired, observed, live, {
    expectedFederationQueues: expectedFederationQueues(snapshot, clusterId),
    deletedLinkObjects: cleanupObjects(cleanups, observed.objects),
    heldBackOwners,
  });
  // The access objects the links and probes of this cluster need: before everything else.
  const want = await loadAccessWant(
    { ds: d.ds, box: d.box, baseUsername: d.linkUserName },
    c,
    access.username,
    desired.objects.some((o) => o.vhost === probeVhost),
  );
  const accessDesired = compileAccess(clusterId, want);
  const accessSeen = await d.observeAccess(want);
  // A one-shot shovel waits until the destination takes its link user (see awaitingDestination).
  const waiting = opts.dryRun ? [] : await awaitingDestination(d, snapshot, diffed.ops);
  for (const w of waiting) heldBackOwners.add(w.op.owner);
  const plan: Plan = {
    ...diffed,
    ops: [
      ...diffAccess(accessDesired, accessSeen.objects),
      ...diffed.ops.filter((op) => !waiting.some((w) => w.op === op)),
    ],
    findings: [
      ...diffed.findings,
      ...engineHeld,
      ...waiting.map((w) => ({ kind: 'held-back' as const, key: w.op.key, detail: w.detail })),
    ],
  };
  // What the broker removed by design is recorded even when the guard stops the writes.
  if (!opts.dryRun && plan.completions?.length)
    await recordCompletions(d.ds, d.audit, clusterId, runId, plan.completions);
  const assessment = assessPlan(plan, desired, observed, live, stale);
  assessment.summary.accessRequests = accessSeen.requests;
  return { snapshot, desired, heldBackOwners, access: accessDesired, plan, cleanups, assessment };
}

/** A broker refusal of the login or the vhost (not an unreachable endpoint). */
const refused =
  /ACCESS_REFUSED|access[_ ]refused|NOT_ALLOWED|not allowed|authenticat|login was refused|\b403\b/i;

/**
 * One-shot shovels (src-delete-after) that must not be created yet: the broker never restarts
 * one that failed, so one created before the destination cluster's pass wrote the link user
 * (its password, its permission on the vhost) would fail with ACCESS_REFUSED and stay dead.
 * Before creating one into another cluster, the pass logs in there as the link user; a refused
 * login holds the shovel back (its link stays unapplied) until a later pass. An endpoint crossdock
 * cannot reach itself proves nothing either way and does not hold it back.
 */
export async function awaitingDestination(
  d: Pick<PlanningDeps, 'verifyLinkLogin'>,
  snapshot: RegistrySnapshot,
  ops: readonly PlanOp[],
): Promise<{ op: PlanOp; detail: string }[]> {
  const out: { op: PlanOp; detail: string }[] = [];
  for (const op of ops) {
    if (op.op !== 'create' || op.key.kind !== 'shovel' || !op.owner.startsWith('shovel:')) continue;
    const sh = snapshot.shovels.find((x) => `shovel:${x.id}` === op.owner);
    const after = op.after as Record<string, unknown>;
    const deleteAfter = after['src-delete-after'];
    if (!sh || sh.destinationClusterId === snapshot.cluster.id) continue;
    if (deleteAfter === undefined || deleteAfter === 'never') continue;
    const uris = Array.isArray(after['dest-uri'])
      ? after['dest-uri'].filter((u): u is string => typeof u === 'string')
      : [];
    try {
      await d.verifyLinkLogin(sh.destinationClusterId, uris);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (!refused.test(why)) continue;
      out.push({
        op,
        detail: `one-shot shovel ${sh.name} waits for its destination cluster to take the link user (the broker would not restart it after a refused login): ${why}`,
      });
    }
  }
  return out;
}
