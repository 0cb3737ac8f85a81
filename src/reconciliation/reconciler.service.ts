import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Counter } from 'prom-client';
import { AuditService, systemActor } from '../audit/audit.service';
import type { Actor } from '../common/actor/actor';
import { BrokerError } from '../broker/management.errors';
import type { ClusterAccess } from '../clusters/cluster-access.service';
import { ClustersService } from '../clusters/clusters.service';
import { Clock } from '../common/clock/clock';
import { requestContext } from '../common/context/request-context';
import { SecretBox } from '../common/crypto/secret-box';
import { AppConfig } from '../config/config.module';
import { ClusterLockSessions } from '../database/database.module';
import { MetricsService } from '../metrics/metrics.service';
import { probeVhost } from '../probes/probe-topology';
import { isAccessKind } from '../broker-topology/object-kinds';
import type { ApplyResult } from './apply';
import { ClusterBrokers, type ClusterBroker } from './cluster-broker';
import { ClusterLock } from './cluster-lock';
import { clearDeleteBlock, recordDeleteBlock } from './delete-block-records';
import { loadExplanations, unexplainedDeletes } from './delete-guard';
import { settleLinkCleanups } from './link-cleanup';
import { afterConnectingPass } from './link-user-refresh';
import { advanceRotation } from './link-user-rotation';
import { adoptObjects, markApplied } from './pass-ledger';
import { planPass, type PassPlan } from './pass-planning';
import { FollowUpRequests } from './follow-up-requests';
import { passSite } from './reconcile-clusters.repository';
import { ReconcileMetrics } from './reconcile-metrics';
import {
  busyRun,
  observeFailure,
  RunRecords,
  type RunFinish,
  type RunOptions,
  type RunStatus,
  type RunView,
} from './reconcile-run';
import { ReconcileTriggerMetrics } from './reconcile-trigger-metrics';
import { applyRecorded } from './recorded-apply';

export {
  runView,
  type RunOptions,
  type RunStatus,
  type RunTrigger,
  type RunView,
} from './reconcile-run';
export { expectedFederationQueues } from './expected-federation-queues';

type Finish = (status: RunStatus, extra?: RunFinish) => Promise<RunView>;

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
  private readonly runs: RunRecords;
  private readonly requests: FollowUpRequests;
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
    this.runs = new RunRecords(ds);
    this.requests = new FollowUpRequests(ds);
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
   * it runs, and starts one follow-up pass for any number of requests. Idempotent; a deleted
   * cluster is skipped.
   */
  async requestFollowUp(clusterId: string, heardMsAgo = 0): Promise<void> {
    await this.requests.request(clusterId, heardMsAgo);
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
      if (await this.requests.takeDue(clusterId, coveredFrom)) {
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
    const held = (holder: 'this-instance' | 'another-instance', why: string): RunView => {
      this.triggerMetrics.busy.inc({ trigger: opts.trigger, holder });
      this.logger.debug({ clusterId, trigger: opts.trigger, holder }, 'reconcile pass busy');
      return busyRun(clusterId, opts, this.instanceId, started, why);
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
    if (!opts.dryRun) covered.from = await this.requests.takeAll(clusterId);
    const passStarted = this.clock.now();
    const ctx = requestContext.current();
    const runId = await this.runs.open(clusterId, opts, this.instanceId, ctx?.requestId ?? null);
    const finish: Finish = async (status, extra = {}) => {
      const view = await this.runs.finish(runId, status, extra);
      this.passMetrics.record({
        trigger: opts.trigger,
        status,
        seconds: (this.clock.nowMs() - passStarted.getTime()) / 1000,
        outcomes: status === 'succeeded' || status === 'failed' ? (extra.operations ?? []) : [],
      });
      return view;
    };

    let access: ClusterAccess;
    try {
      access = await this.clusters.access(clusterId);
    } catch (err) {
      return finish('failed', {
        error: err instanceof Error ? err.message : 'cluster not readable',
      });
    }
    const c = access.cluster;
    const site = await passSite(this.ds, c.siteId, c.name);
    if ((c.reconcileSuspended || site?.reconcile_suspended) && !opts.dryRun) {
      return finish('suspended', {
        error: `reconciliation is suspended for this ${c.reconcileSuspended ? 'cluster' : 'site'}`,
      });
    }
    // Every write of the pass (the plan, the rotation's and refreshes' targeted ops) passes the lock's lease check,
    // and is logged (debug) once it did, right before it is sent.
    const broker = this.brokers.open(access, async () => {
      await lock.guardWrite();
      this.logger.debug({ clusterId, runId, instanceId: this.instanceId }, 'broker write');
    });
    let observed;
    try {
      observed = await broker.observe([...c.vhosts, probeVhost]);
    } catch (err) {
      if (!(err instanceof BrokerError))
        this.logger.error({ clusterId, err }, 'observation failed unexpectedly');
      return finish('failed', observeFailure(err));
    }
    let p: PassPlan;
    try {
      p = await planPass(
        {
          ds: this.ds,
          box: this.box,
          audit: this.audit,
          linkUserName: this.env.LINK_USER_NAME,
          federationQueueMaxBytes: this.env.FEDERATION_QUEUE_MAX_BYTES,
          observeAccess: (want) => broker.observeAccess(want),
          verifyLinkLogin: async (id, uris) =>
            this.brokers.open(await this.clusters.access(id)).verifyLogins(uris),
        },
        access,
        site?.name,
        observed,
        opts,
        runId,
      );
    } catch (err) {
      // The access objects (probe vhost, link users) are read while planning.
      if (err instanceof BrokerError) return finish('failed', observeFailure(err));
      throw err;
    }
    const { summary, shown, findings, ownedDeletes, wipesAll } = p.assessment;
    const unexplained = ownedDeletes.length
      ? unexplainedDeletes(ownedDeletes, p.snapshot, await loadExplanations(this.ds, clusterId))
      : [];
    Object.assign(summary, { unexplainedDeletes: unexplained.length });
    if (
      (unexplained.length > this.env.RECONCILE_MAX_DELETES ||
        (wipesAll && unexplained.length > 0)) &&
      !opts.confirmDeletes
    ) {
      const error = `the pass would delete ${unexplained.length} managed object(s) that no audited registry deletion, pause or completion explains${wipesAll ? ' (every managed object of this cluster)' : ''}: confirm with confirmDeletes to proceed`;
      if (!opts.dryRun) {
        this.deleteBlocks.inc({ cluster: c.id });
        await recordDeleteBlock(
          { ds: this.ds, audit: this.audit, clock: this.clock, logger: this.logger },
          c,
          runId,
          error,
          ownedDeletes,
          unexplained,
          actorOf(opts),
        );
      }
      return finish('blocked', { summary, operations: shown, findings, error });
    }
    if (opts.dryRun) return finish('planned', { summary, operations: shown, findings });
    if (c.deleteBlocked)
      await clearDeleteBlock({ ds: this.ds, audit: this.audit }, c, runId, actorOf(opts));
    await adoptObjects(this.ds, clusterId, p.plan.adoptions);
    return this.applyPass(access, broker, lock, runId, opts, p, passStarted, finish);
  }

  /**
   * The writes: the plan (access objects first), then the rotation's step and what a clean
   * apply settles.
   */
  private async applyPass(
    access: ClusterAccess,
    broker: ClusterBroker,
    lock: ClusterLock,
    runId: string,
    opts: RunOptions,
    p: PassPlan,
    passStarted: Date,
    finish: Finish,
  ): Promise<RunView> {
    const c = access.cluster;
    const clusterId = c.id;
    const { summary, shown, findings } = p.assessment;
    const applyStarted = this.clock.now();
    const applyDeps = {
      ds: this.ds,
      audit: this.audit,
      logger: this.logger,
      concurrency: this.env.RECONCILE_CONCURRENCY,
      writeTimeoutMs: this.env.BROKER_WRITE_TIMEOUT_MS,
    };
    let result: ApplyResult;
    try {
      result = await applyRecorded(
        applyDeps,
        broker,
        lock,
        { clusterId, siteId: c.siteId, runId, actor: actorOf(opts) },
        p.plan,
        shown,
      );
    } catch (err) {
      return finish('failed', {
        summary,
        operations: shown,
        findings,
        error: err instanceof Error ? err.message : 'apply failed',
        apply: [applyStarted, this.clock.now()],
      });
    }
    // The rotation goes on once the plan's access writes went through (its new user is proven
    // by a login, its previous one retired by a targeted delete).
    let rotationError: string | undefined;
    const accessOps = p.plan.ops
      .map((op, i) => ({ op, outcome: result.outcomes[i] }))
      .filter(({ op }) => isAccessKind(op.key.kind));
    if (accessOps.every(({ outcome }) => outcome.ok)) {
      const written = accessOps.filter(({ op }) => op.key.kind === 'user');
      try {
        await advanceRotation(
          { ...applyDeps, box: this.box, runId },
          c,
          broker,
          lock,
          new Set(written.map(({ op }) => op.key.name)),
        );
      } catch (err) {
        rotationError = `link-user rotation: ${err instanceof Error ? err.message : 'failed'}`;
      }
    }
    const applyFinished = this.clock.now();
    if (result.counts.failed === 0 && !result.stopped) {
      // What this pass compiled is now on the broker: links changed since it started stay behind.
      // Held-back links are not on the broker as the registry says.
      const held = [...p.heldBackOwners]
        .filter((o) => o.startsWith('link:'))
        .map((o) => o.slice(5));
      await markApplied(this.ds, clusterId, passStarted, held);
      await settleLinkCleanups(this.ds, clusterId, p.cleanups);
      await afterConnectingPass(
        { ...applyDeps, runId },
        c,
        p.snapshot.linkCredentials,
        p.desired.objects,
        broker,
        lock,
      );
    }
    const operations = result.outcomes.map((o) => ({ ...o }));
    const failed = result.counts.failed > 0 || !!result.stopped || !!rotationError;
    if (p.plan.ops.length)
      this.logger.log(
        { clusterId, runId, counts: result.counts, stopped: result.stopped },
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
      error: result.stopped ?? rotationError,
      apply: [applyStarted, applyFinished],
    });
  }
}

/** Who a pass acts as: the caller of a manual pass, else the reconciler. */
function actorOf(opts: RunOptions): Actor {
  const ctx = requestContext.current();
  return opts.trigger === 'manual' && ctx?.actor ? ctx.actor : systemActor('reconciler');
}
