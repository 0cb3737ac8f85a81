import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditService, systemActor } from '../audit/audit.service';
import type { Actor } from '../common/actor/actor';
import { BrokerError, typedKind } from '../broker/management.errors';
import type { ClusterEntity } from '../clusters/cluster.entity';
import { ClustersService } from '../clusters/clusters.service';
import { requestContext } from '../common/context/request-context';
import { SecretBox } from '../common/crypto/secret-box';
import { redactDeep, redactString } from '../common/logging/redact';
import { AppConfig } from '../config/config.module';
import { Clock } from '../common/clock/clock';
import { ClusterBrokers, type ClusterBroker } from './cluster-broker';
import type { ApplyResult, OpOutcome } from './apply';
import { claimCreates, settleOutcomes } from './apply-ledger';
import type { LedgerEntry, Plan, PlanOp } from './broker-state';
import { ClusterLock } from './cluster-lock';
import { ClusterLockSessions } from '../database/database.module';
import { objectId, type FederationQueueRef } from '../broker-topology/broker-paths';
import { compileCluster, type RegistrySnapshot } from './compile';
import { deletable, diffStates, redactPlan } from './diff';
import { afterConnectingPass } from './link-user-refresh';
import { syncLinkUsers } from './link-user-rotation';
import { storeKnownNames } from './known-objects';
import { probeNames, probeVhost } from '../probes/probe-topology';
import { isLinkTarget, loadSnapshot } from './registry-snapshot';
import { cleanupObjects, loadLinkCleanups, settleLinkCleanups } from './link-cleanup';
import { recordCompletions } from './completions';
import { deleteBlock, loadExplanations, unexplainedDeletes } from './delete-guard';
import { MetricsService } from '../metrics/metrics.service';
import { Counter } from 'prom-client';
import { ReconcileMetrics } from './reconcile-metrics';
import { ReconcileTriggerMetrics } from './reconcile-trigger-metrics';

export type RunTrigger = 'change' | 'follow-up' | 'schedule' | 'manual' | 'dry-run';
export type RunStatus =
  'running' | 'succeeded' | 'failed' | 'blocked' | 'suspended' | 'planned' | 'busy';

export interface RunOptions {
  trigger: RunTrigger;
  dryRun?: boolean;
  /** Lets a pass delete more than RECONCILE_MAX_DELETES objects (or every managed object). */
  confirmDeletes?: boolean;
}

export interface RunView {
  id: string | null;
  clusterId: string;
  trigger: RunTrigger;
  instanceId: string;
  dryRun: boolean;
  status: RunStatus;
  startedAt: string;
  finishedAt: string | null;
  applyStartedAt: string | null;
  applyFinishedAt: string | null;
  summary: Record<string, unknown>;
  operations: unknown[];
  findings: unknown[];
  error: string | null;
}

/** Binding names join their parts with NUL; show them with spaces. */
const keyText = (op: PlanOp) =>
  `${op.key.kind} ${op.key.vhost} ${op.key.name.split('\u0000').join(' ')}`;

/**
 * One reconcile pass for one cluster: observe -> compile -> diff -> (guard) -> apply, under a
 * Postgres advisory lock held on a pinned connection and re-checked before every broker write,
 * plus an in-process guard against overlapping passes. Nothing is written to a cluster that
 * could not be observed in full.
 */
@Injectable()
export class ReconcilerService {
  private readonly logger = new Logger('Reconciler');
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly running = new Set<string>();
  private readonly deleteBlocks: Counter<'cluster'>;
  /**
   * Called after a pass released its cluster when a change found the cluster busy meanwhile (a
   * follow-up request, see `requestFollowUp`); set by the triggers when this instance reconciles.
   */
  onFollowUp?: (clusterId: string) => void;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    private readonly env: AppConfig,
    private readonly lockSessions: ClusterLockSessions,
    metrics: MetricsService,
    private readonly triggerMetrics: ReconcileTriggerMetrics,
    private readonly passMetrics: ReconcileMetrics,
    private readonly brokers: ClusterBrokers,
    private readonly clock: Clock,
  ) {
    this.deleteBlocks = new Counter({
      name: 'crossdock_reconcile_delete_blocked_total',
      help: 'Reconcile passes stopped by the mass-delete guard (unexplained deletes), per cluster',
      labelNames: ['cluster'],
      registers: [metrics.registry],
    });
  }

  /**
   * Records that a change of this cluster, heard `heardMsAgo` ms ago, found it busy. Whoever
   * holds the cluster reads the request after releasing it (`afterPass`), in whichever replica
   * it runs, and starts one follow-up pass for any number of requests. The request keeps when
   * its newest change was heard (database clock): a pass that started reading the registry after
   * that already covered it. Idempotent; a deleted cluster is skipped.
   */
  async requestFollowUp(clusterId: string, heardMsAgo = 0): Promise<void> {
    await this.ds.query(
      `INSERT INTO reconcile_requests (cluster_id, requested_at)
       SELECT id, now() - make_interval(secs => $2::float8 / 1000) FROM clusters WHERE id = $1
       ON CONFLICT (cluster_id) DO UPDATE
         SET requested_at = greatest(reconcile_requests.requested_at, EXCLUDED.requested_at)`,
      [clusterId, Math.max(0, heardMsAgo)],
    );
  }

  /**
   * After the lock is released (so a request written while this pass held the cluster is
   * seen): takes the cluster's follow-up request, if any, and hands it to the triggers unless
   * every change it stands for was heard before this pass started reading the registry
   * (`coveredFrom`; a dry run covers nothing).
   */
  private async afterPass(clusterId: string, coveredFrom?: Date): Promise<void> {
    // An instance that does not reconcile in the background leaves the request to one that does.
    if (!this.onFollowUp) return;
    try {
      const [rows] = (await this.ds.query(
        `DELETE FROM reconcile_requests WHERE cluster_id = $1
         RETURNING ($2::timestamptz IS NULL OR requested_at >= $2::timestamptz) AS due`,
        [clusterId, coveredFrom ?? null],
      )) as [{ due: boolean }[], number];
      if (rows[0]?.due) {
        this.triggerMetrics.followUps.inc();
        this.onFollowUp?.(clusterId);
      }
    } catch (err) {
      // The request stays for the next pass (or the drift schedule) to take.
      this.logger.warn({ err, clusterId }, 'follow-up request not read');
    }
  }

  async reconcile(clusterId: string, opts: RunOptions): Promise<RunView> {
    const started = this.clock.now();
    const busy = (why: string): RunView => ({
      id: null,
      clusterId,
      trigger: opts.trigger,
      instanceId: this.instanceId,
      dryRun: !!opts.dryRun,
      status: 'busy',
      startedAt: started.toISOString(),
      finishedAt: started.toISOString(),
      applyStartedAt: null,
      applyFinishedAt: null,
      summary: {},
      operations: [],
      findings: [],
      error: why,
    });
    const held = (holder: 'this-instance' | 'another-instance', why: string): RunView => {
      this.triggerMetrics.busy.inc({ trigger: opts.trigger, holder });
      this.logger.debug({ clusterId, trigger: opts.trigger, holder }, 'reconcile pass busy');
      return busy(why);
    };
    if (this.running.has(clusterId))
      return held('this-instance', 'a pass for this cluster is already running in this instance');
    this.running.add(clusterId);
    let ran = false;
    const covered: { from?: Date } = {};
    try {
      const lock = await ClusterLock.tryAcquire(this.lockSessions, clusterId);
      if (!lock) return held('another-instance', 'another instance holds this cluster');
      ran = true;
      try {
        return await this.pass(clusterId, opts, lock, covered);
      } finally {
        await lock.release();
      }
    } finally {
      this.running.delete(clusterId);
      if (ran) await this.afterPass(clusterId, covered.from);
    }
  }

  private async pass(
    clusterId: string,
    opts: RunOptions,
    lock: ClusterLock,
    covered: { from?: Date },
  ): Promise<RunView> {
    // This pass reads the registry after this point, so it covers every change heard so far:
    // their requests go now, later ones are judged after it (afterPass).
    if (!opts.dryRun) {
      const [at] = (await this.ds.query(
        `WITH taken AS (DELETE FROM reconcile_requests WHERE cluster_id = $1)
         SELECT clock_timestamp() AS at`,
        [clusterId],
      )) as { at: Date }[];
      covered.from = at.at;
    }
    const passStarted = this.clock.now();
    const ctx = requestContext.current();
    // Holding the lock proves no other pass is alive: runs left `running` died with their
    // replica (closed in the same statement; the new row is not visible to that UPDATE).
    const [run] = (await this.ds.query(
      `WITH abandoned AS (
         UPDATE reconcile_runs SET status = 'failed', finished_at = now(), error = 'abandoned: its instance lost the cluster lock'
          WHERE cluster_id = $1 AND status = 'running')
       INSERT INTO reconcile_runs (cluster_id, trigger, instance_id, dry_run, status, request_id)
       VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id`,
      [clusterId, opts.trigger, this.instanceId, !!opts.dryRun, ctx?.requestId ?? null],
    )) as { id: string }[];
    const finish = async (
      status: RunStatus,
      extra: {
        summary?: object;
        operations?: unknown[];
        findings?: unknown[];
        error?: string;
        apply?: [Date, Date];
      },
    ) => {
      const [rows] = (await this.ds.query(
        `UPDATE reconcile_runs SET status = $2, finished_at = now(), summary = $3, operations = $4, findings = $5, error = $6,
           apply_started_at = $7, apply_finished_at = $8 WHERE id = $1 RETURNING *`,
        [
          run.id,
          status,
          JSON.stringify(redactDeep(extra.summary ?? {})),
          JSON.stringify(redactDeep(extra.operations ?? [])),
          JSON.stringify(redactDeep(extra.findings ?? [])),
          extra.error === undefined ? null : redactString(extra.error),
          extra.apply?.[0] ?? null,
          extra.apply?.[1] ?? null,
        ],
      )) as [Record<string, unknown>[], number];
      this.passMetrics.record({
        trigger: opts.trigger,
        status,
        seconds: (this.clock.nowMs() - passStarted.getTime()) / 1000,
        outcomes: status === 'succeeded' || status === 'failed' ? (extra.operations ?? []) : [],
      });
      return runView(rows[0]);
    };

    let access;
    try {
      access = await this.clusters.access(clusterId);
    } catch (err) {
      return finish('failed', {
        error: err instanceof Error ? err.message : 'cluster not readable',
      });
    }
    const c = access.cluster;
    const [site] = (await this.ds.query(
      `SELECT reconcile_suspended, name || '/' || $2 AS name FROM sites WHERE id = $1`,
      [c.siteId, c.name],
    )) as { reconcile_suspended: boolean; name: string }[];
    if ((c.reconcileSuspended || site?.reconcile_suspended) && !opts.dryRun) {
      return finish('suspended', {
        error: `reconciliation is suspended for this ${c.reconcileSuspended ? 'cluster' : 'site'}`,
      });
    }
    // Every write of the pass (apply, probe vhost, link users) passes the lock's lease check,
    // and is logged (debug) once it did, right before it is sent.
    const broker = this.brokers.open(access, async () => {
      await lock.guardWrite();
      this.logger.debug({ clusterId, runId: run.id, instanceId: this.instanceId }, 'broker write');
    });
    let observed;
    try {
      observed = await broker.observe([...c.vhosts, probeVhost]);
    } catch (err) {
      // Typed, so a run says why: timeout, server, unreachable, protocol/<problem> (a malformed,
      // cut or oversized listing is never half-believed).
      const kind = err instanceof BrokerError ? typedKind(err) : 'internal';
      const observeError =
        err instanceof BrokerError
          ? { kind, method: err.method, path: err.path, brokerStatus: err.brokerStatus }
          : { kind };
      if (!(err instanceof BrokerError))
        this.logger.error({ clusterId, err }, 'observation failed unexpectedly');
      return finish('failed', {
        summary: { observeError },
        error: `cluster not observable, nothing written (${kind}): ${err instanceof Error ? err.message : 'unknown error'}`,
      });
    }
    await storeKnownNames(this.ds, clusterId, observed);
    // Write-time validation and link status judge by the version each pass just saw.
    if ((c.brokerVersion ?? null) !== (observed.brokerVersion ?? null))
      await this.ds.query(
        `UPDATE clusters SET broker_version = $2 WHERE id = $1 AND broker_version IS DISTINCT FROM $2`,
        [clusterId, observed.brokerVersion ?? null],
      );
    const loaded = await loadSnapshot(
      this.ds,
      this.box,
      clusterId,
      observed,
      this.env.LINK_USER_NAME,
      this.env.FEDERATION_QUEUE_MAX_BYTES,
    );
    const snapshot = {
      ...loaded,
      cluster: {
        ...loaded.cluster,
        name: site?.name,
        brokerVersion: observed.brokerVersion ?? null,
      },
    };
    const desired = compileCluster(snapshot);
    const heldBackOwners = new Set(desired.heldBack.map((h) => h.owner));
    const fullLedger = (await this.ds.query(
      `SELECT kind, vhost, name, owner, confirmed FROM managed_objects WHERE cluster_id = $1`,
      [clusterId],
    )) as LedgerEntry[];
    // Spill shovels belong to the overflow engine: a pass neither recreates one that ended by
    // design nor deletes a running one, so they leave the comparison on both sides.
    const engineOwned = new Set(
      fullLedger.filter((e) => e.owner.startsWith('overflow:')).map((e) => objectId(e)),
    );
    const ledger = fullLedger.filter((e) => !engineOwned.has(objectId(e)));
    observed = {
      ...observed,
      objects: observed.objects.filter((o) => !engineOwned.has(objectId(o))),
    };
    // Ledger rows whose object is neither wanted nor on the broker (a crash between the ledger
    // write and the broker write): forget them, under the lock, after a full observation.
    const present = new Set(observed.objects.map((o) => objectId(o)));
    const wanted = new Set(desired.objects.map((o) => objectId(o)));
    const stale = ledger.filter(
      (e) => c.vhosts.includes(e.vhost) && !present.has(objectId(e)) && !wanted.has(objectId(e)),
    );
    for (const e of stale) {
      await this.ds.query(
        `DELETE FROM managed_objects WHERE cluster_id = $1 AND kind = $2 AND vhost = $3 AND name = $4`,
        [clusterId, e.kind, e.vhost, e.name],
      );
    }
    const liveLedger = ledger.filter((e) => !stale.includes(e));
    // Seen on the broker: accepted at least once, even if the write that put it there timed out.
    for (const e of liveLedger.filter((x) => x.confirmed === false && present.has(objectId(x)))) {
      await this.ds.query(
        `UPDATE managed_objects SET confirmed = true WHERE cluster_id = $1 AND kind = $2 AND vhost = $3 AND name = $4`,
        [clusterId, e.kind, e.vhost, e.name],
      );
      e.confirmed = true;
    }
    const cleanups = await loadLinkCleanups(this.ds, clusterId);
    const plan = diffStates(desired, observed, liveLedger, {
      expectedFederationQueues: expectedFederationQueues(snapshot, clusterId),
      deletedLinkObjects: cleanupObjects(cleanups, observed.objects),
      heldBackOwners,
    });
    const findings = [
      ...plan.findings,
      ...stale.map((e) => ({
        kind: 'stale-ledger',
        key: { kind: e.kind, vhost: e.vhost, name: e.name },
        detail: 'owned object was never created (or is gone): ledger row removed',
      })),
      ...desired.conflicts.map((x) => ({ kind: 'conflict', ...x })),
      ...desired.heldBack.map((h) => ({ kind: 'held-back', ...h })),
      ...desired.warnings.map((w) => ({ kind: 'warning', detail: w })),
    ];
    const deletes = plan.ops.filter((o) => o.op === 'delete').length;
    const summary = {
      desired: desired.objects.length,
      observed: observed.objects.length,
      observeRequests: observed.requests,
      creates: plan.ops.filter((o) => o.op === 'create').length,
      updates: plan.ops.filter((o) => o.op === 'update').length,
      deletes,
    };
    const shown = redactPlan(plan).ops;
    // Backlog queues of deleted links are not in the ledger: they count as deletes, not as "all";
    // exchanges and queues crossdock created are never deleted, so they do not count either.
    const inLedger = new Set(liveLedger.map((e) => objectId(e)));
    const ownedDeletes = plan.ops.filter(
      (o) => o.op === 'delete' && inLedger.has(objectId(o.key)),
    ).length;
    const deletableOwned = liveLedger.filter((e) => deletable(e)).length;
    const wipesAll =
      ownedDeletes > 0 && ownedDeletes >= deletableOwned && desired.objects.length === 0;
    // What the broker removed by design is recorded even when the guard stops the writes.
    if (!opts.dryRun && plan.completions?.length)
      await recordCompletions(this.ds, this.audit, clusterId, run.id, plan.completions);
    // Backlog queues of deleted links are not in the ledger: their cleanup rows explain them.
    const owned = plan.ops.filter((o) => o.op === 'delete' && inLedger.has(objectId(o.key)));
    const unexplained = owned.length
      ? unexplainedDeletes(owned, snapshot, await loadExplanations(this.ds, clusterId))
      : [];
    Object.assign(summary, { unexplainedDeletes: unexplained.length });
    if (
      (unexplained.length > this.env.RECONCILE_MAX_DELETES ||
        (wipesAll && unexplained.length > 0)) &&
      !opts.confirmDeletes
    ) {
      const error = `the pass would delete ${unexplained.length} managed object(s) that no audited registry deletion, pause or completion explains${wipesAll ? ' (every managed object of this cluster)' : ''}: confirm with confirmDeletes to proceed`;
      if (!opts.dryRun)
        await this.recordDeleteBlock(c, run.id, error, owned, unexplained, actorOf(opts));
      return finish('blocked', { summary, operations: shown, findings, error });
    }
    if (opts.dryRun) return finish('planned', { summary, operations: shown, findings });
    if (c.deleteBlocked) await this.clearDeleteBlock(c, run.id, actorOf(opts));

    // Probe-vhost objects the far side declared first, already as desired: owned from now on.
    for (const a of plan.adoptions ?? []) {
      await this.ds.query(
        `INSERT INTO managed_objects (cluster_id, kind, vhost, name, owner) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (cluster_id, kind, vhost, name) DO NOTHING`,
        [clusterId, a.kind, a.vhost, a.name, a.owner],
      );
    }

    const actor = actorOf(opts);
    const applyStarted = this.clock.now();
    let result: ApplyResult;
    try {
      const linkVhosts = await isLinkTarget(this.ds, clusterId);
      const probeWrites = plan.ops.some((o) => o.key.vhost === probeVhost && o.op !== 'delete');
      if (probeWrites || linkVhosts.includes(probeVhost)) {
        if (!(await lock.stillHeld()))
          throw new Error('the cluster lock was lost before the probe vhost write');
        await broker.ensureProbeVhost(access.username);
      }
      await syncLinkUsers(
        {
          ds: this.ds,
          box: this.box,
          audit: this.audit,
          baseUsername: this.env.LINK_USER_NAME,
        },
        c,
        broker,
        lock,
      );
      result = await this.apply(clusterId, run.id, broker, plan, shown, lock, actor, c.siteId);
    } catch (err) {
      return finish('failed', {
        summary,
        operations: shown,
        findings,
        error: err instanceof Error ? err.message : 'apply failed',
        apply: [applyStarted, this.clock.now()],
      });
    }
    const applyFinished = this.clock.now();
    if (result.counts.failed === 0 && !result.stopped) {
      // What this pass compiled is now on the broker: links changed since it started stay behind.
      // Held-back links are not on the broker as the registry says.
      const held = [...heldBackOwners].filter((o) => o.startsWith('link:')).map((o) => o.slice(5));
      await this.ds.query(
        `WITH links AS (
           UPDATE federation_links SET applied_generation = generation
            WHERE downstream_cluster_id = $1 AND updated_at <= $2 AND NOT (id = ANY($3::uuid[])))
         UPDATE shovels SET applied_generation = generation WHERE source_cluster_id = $1 AND updated_at <= $2`,
        [clusterId, passStarted, held],
      );
      await settleLinkCleanups(this.ds, clusterId, cleanups);
      await afterConnectingPass(
        { ds: this.ds, audit: this.audit, writeTimeoutMs: this.env.BROKER_WRITE_TIMEOUT_MS },
        c,
        snapshot.linkCredentials,
        desired.objects,
        broker.management,
        lock,
      );
    }
    const operations = result.outcomes.map((o) => ({ ...o }));
    const failed = result.counts.failed > 0 || !!result.stopped;
    if (plan.ops.length)
      this.logger.log(
        { clusterId, runId: run.id, counts: result.counts, stopped: result.stopped },
        'reconcile pass applied',
      );
    return finish(failed ? 'failed' : 'succeeded', {
      summary: {
        ...summary,
        ...result.counts,
        applyRequests: result.requests,
        applyMs: Math.round(result.ms),
      },
      operations,
      findings,
      error: result.stopped,
      apply: [applyStarted, applyFinished],
    });
  }

  /** Shows the block on the cluster (GET /clusters/{id}, link status), counts and audits it. */
  private async recordDeleteBlock(
    c: ClusterEntity,
    runId: string,
    reason: string,
    deletes: PlanOp[],
    unexplained: PlanOp[],
    actor: Actor,
  ): Promise<void> {
    this.deleteBlocks.inc({ cluster: c.id });
    const block = deleteBlock({
      clusterId: c.id,
      runId,
      reason,
      deletes,
      unexplained,
      previous: c.deleteBlocked,
      now: this.clock.now(),
    });
    await this.ds.transaction(async (m) => {
      await m.query(`UPDATE clusters SET delete_blocked = $2 WHERE id = $1`, [
        c.id,
        JSON.stringify(block),
      ]);
      // Once per block, not per pass: the drift schedule repeats a blocked pass.
      if (c.deleteBlocked?.since === block.since) return;
      await this.audit.record(m, {
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
    this.logger.warn(
      { clusterId: c.id, runId, unexplained: unexplained.length },
      'reconcile pass blocked by the mass-delete guard',
    );
  }

  private async clearDeleteBlock(c: ClusterEntity, runId: string, actor: Actor): Promise<void> {
    await this.ds.transaction(async (m) => {
      await m.query(`UPDATE clusters SET delete_blocked = NULL WHERE id = $1`, [c.id]);
      await this.audit.record(m, {
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

  private async apply(
    clusterId: string,
    runId: string,
    broker: ClusterBroker,
    plan: Plan,
    shown: readonly PlanOp[],
    lock: ClusterLock,
    actor: Actor,
    siteId: string,
  ): Promise<ApplyResult> {
    const intents = new Map<PlanOp, string>();
    const outcomeEvent = (op: PlanOp, outcome: OpOutcome) => ({
      ...base,
      action: `reconcile.${op.op}.${outcome.ok ? 'succeeded' : 'failed'}`,
      resourceName: keyText(op).slice(0, 255),
      details: { runId, intentSeq: intents.get(op), outcome },
    });
    const base = {
      resourceType: 'broker-object',
      siteIds: [siteId],
      clusterIds: [clusterId],
      actor,
    };
    const redacted = new Map(plan.ops.map((op, i) => [op, shown[i]]));
    // Bookkeeping a batch at a time: the batch's ledger rows and intents commit together before
    // any of its writes is sent; outcomes commit in groups as they come back (each with the
    // ledger change it records).
    const result = await broker.apply(
      plan,
      {
        beforeBatch: async (ops) => {
          if (!(await lock.stillHeld()))
            throw new Error('the cluster lock was lost; stopping before the next write');
          const recorded = await this.ds.transaction(async (m) => {
            await claimCreates(m, clusterId, ops);
            return this.audit.recordMany(
              m,
              ops.map((op) => ({
                ...base,
                action: `reconcile.${op.op}.intent`,
                resourceName: keyText(op).slice(0, 255),
                details: { runId, op: redacted.get(op) },
              })),
            );
          });
          ops.forEach((op, i) => intents.set(op, recorded[i].seq));
        },
        beforeWrite: async () => {
          if (!(await lock.stillHeld()))
            throw new Error('the cluster lock was lost; stopping before the next write');
        },
        afterBatch: (done) =>
          this.ds.transaction(async (m) => {
            await settleOutcomes(m, clusterId, done);
            await this.audit.recordMany(
              m,
              done.map(({ op, outcome }) => outcomeEvent(op, outcome)),
            );
          }),
      },
      {
        concurrency: this.env.RECONCILE_CONCURRENCY,
        writeTimeoutMs: this.env.BROKER_WRITE_TIMEOUT_MS,
      },
    );
    // Ops of a recorded batch the run stopped before sending: their intents get an outcome too.
    // (Their unconfirmed ledger rows are what the next pass re-creates or forgets.)
    const unsent = plan.ops
      .map((op, i) => ({ op, outcome: result.outcomes[i] }))
      .filter(({ op, outcome }) => outcome.skipped && intents.has(op));
    if (unsent.length)
      await this.ds
        .transaction((m) =>
          this.audit.recordMany(
            m,
            unsent.map(({ op, outcome: { op: _op, key: _key, ...outcome } }) =>
              outcomeEvent(op, outcome),
            ),
          ),
        )
        .catch((err: unknown) =>
          this.logger.warn({ err, clusterId, runId }, 'outcomes of unsent operations not recorded'),
        );
    return result;
  }
}

/**
 * The exchange-federation backlog queues that links pulling from this cluster explain, and those
 * of their probe paths: every federation link (exchange or queue) has one, from this cluster's
 * probe exchange for the downstream cluster, in the probe vhost.
 */
export function expectedFederationQueues(
  s: RegistrySnapshot,
  clusterId: string,
): FederationQueueRef[] {
  const refs: FederationQueueRef[] = [];
  const probePaths = new Set<string>();
  for (const l of s.federationLinks) {
    if (l.upstreamClusterId !== clusterId) continue;
    const downstream = s.clusters[l.downstreamClusterId]?.brokerClusterName;
    if (!downstream) continue;
    if (!probePaths.has(l.downstreamClusterId)) {
      probePaths.add(l.downstreamClusterId);
      const exchange = probeNames.exchange(clusterId, l.downstreamClusterId);
      refs.push({
        vhost: probeVhost,
        exchange,
        downstreamCluster: downstream,
        downstreamVhost: probeVhost,
        downstreamExchange: exchange,
      });
    }
    if (l.kind !== 'exchange') continue;
    const names =
      l.targetPrefix !== null
        ? (s.known[l.upstreamVhost]?.exchanges ?? []).filter((x) =>
            x.startsWith(l.targetPrefix as string),
          )
        : l.targets;
    for (const x of names)
      refs.push({
        vhost: l.upstreamVhost,
        exchange: x,
        downstreamCluster: downstream,
        downstreamVhost: l.downstreamVhost,
        downstreamExchange: x,
      });
  }
  return refs;
}

/** Who a pass acts as: the caller of a manual pass, else the reconciler. */
function actorOf(opts: RunOptions): Actor {
  const ctx = requestContext.current();
  return opts.trigger === 'manual' && ctx?.actor ? ctx.actor : systemActor('reconciler');
}

export function runView(r: Record<string, unknown>): RunView {
  const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : null);
  return {
    id: r.id as string,
    clusterId: r.cluster_id as string,
    trigger: r.trigger as RunTrigger,
    instanceId: r.instance_id as string,
    dryRun: r.dry_run as boolean,
    status: r.status as RunStatus,
    startedAt: iso(r.started_at) as string,
    finishedAt: iso(r.finished_at),
    applyStartedAt: iso(r.apply_started_at),
    applyFinishedAt: iso(r.apply_finished_at),
    summary: r.summary as Record<string, unknown>,
    operations: r.operations as unknown[],
    findings: r.findings as unknown[],
    error: (r.error as string | null) ?? null,
  };
}
