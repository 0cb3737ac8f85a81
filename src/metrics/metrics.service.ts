import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { AppConfig } from '../config/config.module';

/** One registry per app instance, so in-process test apps do not collide on metric names. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  /**
   * Latency by route template, method and status class (`2xx`, `4xx`, ...): exact statuses
   * multiplied the series by ten for no alerting value, and every scrape paid for them.
   */
  readonly httpDuration = new Histogram({
    name: 'crossdock_http_request_duration_seconds',
    help: 'HTTP request latency by route template, method and status class',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.025, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  private cached?: { at: number; text: Promise<string> };

  constructor(private readonly env: AppConfig) {
    collectDefaultMetrics({ register: this.registry, prefix: 'crossdock_' });
  }

  /**
   * The exposition text, rendered at most once per METRICS_CACHE_MS: scrapes in between (and
   * concurrent ones) share one rendering, so a scrape storm costs a string send per call.
   */
  render(): Promise<string> {
    const now = performance.now();
    const ttl = this.env.METRICS_CACHE_MS;
    if (this.cached && now - this.cached.at < ttl) return this.cached.text;
    const text = this.registry.metrics();
    if (ttl > 0) {
      this.cached = { at: now, text };
      text.catch(() => (this.cached = undefined));
    }
    return text;
  }
}
