import { Injectable, Logger } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import { ReconcileMetricsRepository } from './reconcile-metrics.repository';

/** What a finished pass reports: its trigger, its run status and the operations it applied. */
export interface PassRecord {
  trigger: string;
  status: string;
  seconds: number;
  /** Applied operations (`ok`, `skipped`, `op`, `key.kind`); empty for passes that wrote nothing. */
  outcomes: readonly unknown[];
}

interface AppliedOp {
  ok: boolean;
  skipped?: boolean;
  op: string;
  key: { kind: string };
}

const isApplied = (o: unknown): o is AppliedOp =>
  typeof o === 'object' &&
  o !== null &&
  typeof (o as AppliedOp).ok === 'boolean' &&
  typeof (o as AppliedOp).op === 'string' &&
  typeof (o as AppliedOp).key?.kind === 'string';

/**
 * Reconcile series: pass duration by trigger and outcome, operations by kind and outcome,
 * pending follow-ups and the age of each cluster's last successful pass. The two gauges are read
 * from the registry at scrape time, so every replica exports the same values and a deleted
 * cluster's series goes with it.
 */
@Injectable()
export class ReconcileMetrics {
  private readonly logger = new Logger(ReconcileMetrics.name);
  readonly passDuration: Histogram<'trigger' | 'outcome'>;
  readonly operations: Counter<'kind' | 'op' | 'outcome'>;

  constructor(metrics: MetricsService, repo: ReconcileMetricsRepository) {
    const registers = [metrics.registry];
    const logger = this.logger;
    this.passDuration = new Histogram({
      name: 'crossdock_reconcile_pass_duration_seconds',
      help: 'Reconcile pass duration by trigger and outcome (the run status)',
      labelNames: ['trigger', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.operations = new Counter({
      name: 'crossdock_reconcile_operations_total',
      help: 'Broker operations applied by reconcile passes, by object kind, operation and outcome',
      labelNames: ['kind', 'op', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'crossdock_reconcile_pending_follow_ups',
      help: 'Clusters with a follow-up pass requested and not yet started (all replicas)',
      registers,
      async collect() {
        try {
          this.set(await repo.pendingFollowUps());
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'pending follow-ups not readable');
        }
      },
    });
    new Gauge({
      name: 'crossdock_reconcile_last_success_age_seconds',
      help: "Seconds since the cluster's last successful (non dry-run) pass; since registration if none",
      labelNames: ['cluster', 'name'],
      registers,
      async collect() {
        try {
          const ages = await repo.lastSuccessAges();
          this.reset();
          for (const a of ages) this.set({ cluster: a.clusterId, name: a.name }, a.ageSeconds);
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'last pass ages not readable');
        }
      },
    });
  }

  /** Called once per finished pass (busy answers are counted by the trigger metrics). */
  record(pass: PassRecord): void {
    this.passDuration.observe({ trigger: pass.trigger, outcome: pass.status }, pass.seconds);
    for (const o of pass.outcomes) {
      if (!isApplied(o)) continue;
      const outcome = o.skipped ? 'skipped' : o.ok ? 'succeeded' : 'failed';
      this.operations.inc({ kind: o.key.kind, op: o.op, outcome });
    }
  }
}
