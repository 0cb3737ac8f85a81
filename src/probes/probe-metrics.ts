import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import { retainSeries } from '../metrics/series';

/** Prometheus series for probes and link health, in the app's registry. */
@Injectable()
export class ProbeMetrics {
  readonly lag: Histogram<'path'>;
  readonly lost: Counter<'path'>;
  readonly pathUp: Gauge<'path'>;
  readonly linkUp: Gauge<'link' | 'kind' | 'name'>;
  readonly backlog: Gauge<'link' | 'kind' | 'name'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.lag = new Histogram({
      name: 'crossdock_probe_lag_seconds',
      help: 'Probe lag across a path (receive - send - crossdock legs)',
      labelNames: ['path'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.lost = new Counter({
      name: 'crossdock_probe_lost_total',
      help: 'Probes not received within the path limit',
      labelNames: ['path'],
      registers,
    });
    this.pathUp = new Gauge({
      name: 'crossdock_probe_path_up',
      help: '1 when the newest probe on the path arrived in time',
      labelNames: ['path'],
      registers,
    });
    this.linkUp = new Gauge({
      name: 'crossdock_link_up',
      help: '1 healthy, 0.5 degraded, 0 down, -1 unknown',
      labelNames: ['link', 'kind', 'name'],
      registers,
    });
    this.backlog = new Gauge({
      name: 'crossdock_link_backlog_messages',
      help: 'Messages waiting to cross a link (broker statistics, up to 5 s old)',
      labelNames: ['link', 'kind', 'name'],
      registers,
    });
  }

  /**
   * Keeps only the series of the paths and links this instance probes now: a deleted link's
   * series (or one another replica took over) disappear instead of repeating their last value.
   */
  async retain(paths: ReadonlySet<string>, links: ReadonlySet<string>): Promise<void> {
    await Promise.all([
      retainSeries(this.lag, 'path', paths),
      retainSeries(this.lost, 'path', paths),
      retainSeries(this.pathUp, 'path', paths),
      retainSeries(this.linkUp, 'link', links),
      retainSeries(this.backlog, 'link', links),
    ]);
  }
}
