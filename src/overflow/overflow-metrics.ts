import { Counter, Gauge, type Registry } from 'prom-client';
import { retainSeries } from '../metrics/series';
import type { Decision, OverflowState } from './overflow-decide';

const stateValue: Record<OverflowState, number> = {
  inactive: 0,
  active: 1,
  draining: 2,
  suspended: 3,
  failing: 4,
  starting: 5,
};

/** The overflow engine's metrics, one series per rule this instance evaluates. */
export class OverflowMetrics {
  private readonly depth: Gauge<'rule'>;
  private readonly state: Gauge<'rule'>;
  private readonly activations: Counter<'rule'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.depth = new Gauge({
      name: 'crossdock_overflow_queue_depth',
      help: 'Ready messages in the queue an overflow rule watches',
      labelNames: ['rule'],
      registers,
    });
    this.state = new Gauge({
      name: 'crossdock_overflow_state',
      help: '0 inactive, 1 active (moving), 2 draining, 3 suspended, 4 failing (spill not moving), 5 starting',
      labelNames: ['rule'],
      registers,
    });
    this.activations = new Counter({
      name: 'crossdock_overflow_activations_total',
      help: 'Times an overflow rule started diverting',
      labelNames: ['rule'],
      registers,
    });
  }

  /** One evaluation of a rule: its depth, the state decided, an activation counted. */
  evaluated(rule: string, depth: number | null, d: Decision): void {
    this.depth.set({ rule }, depth ?? 0);
    this.state.set({ rule }, stateValue[d.state]);
    if (d.action === 'activate') this.activations.inc({ rule });
  }

  /** Drops the series of rules not in `live` (deleted, or evaluated by another instance now). */
  async retain(live: Set<string>): Promise<void> {
    await Promise.all(
      [this.depth, this.state, this.activations].map((m) => retainSeries(m, 'rule', live)),
    );
  }
}
