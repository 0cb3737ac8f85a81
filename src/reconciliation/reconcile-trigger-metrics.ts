import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';

/** Prometheus series for what starts passes and what a busy cluster answered, in the app's registry. */
@Injectable()
export class ReconcileTriggerMetrics {
  /** Passes that did not start because the cluster was held (`holder`: this or another instance). */
  readonly busy: Counter<'trigger' | 'holder'>;
  /** Follow-up passes started after a pass that changes arrived during. */
  readonly followUps: Counter;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.busy = new Counter({
      name: 'crossdock_reconcile_busy_total',
      help: 'Reconcile passes answered busy: the cluster was held by a running pass',
      labelNames: ['trigger', 'holder'],
      registers,
    });
    this.followUps = new Counter({
      name: 'crossdock_reconcile_follow_ups_total',
      help: 'Follow-up passes started right after a pass during which a change found the cluster busy',
      registers,
    });
  }
}
