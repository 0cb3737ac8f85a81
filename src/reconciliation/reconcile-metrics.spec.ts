import { MetricsService } from '../metrics/metrics.service';
import { ReconcileMetrics } from './reconcile-metrics';
import type { ReconcileMetricsRepository } from './reconcile-metrics.repository';

describe('ReconcileMetrics', () => {
  const setup = (repo: Partial<ReconcileMetricsRepository>) => {
    const metrics = new MetricsService({ METRICS_CACHE_MS: 0 } as never);
    const m = new ReconcileMetrics(metrics, repo as ReconcileMetricsRepository);
    return { m, text: () => metrics.registry.metrics() };
  };

  it('counts applied operations by kind, op and outcome, and times the pass', async () => {
    const { m, text } = setup({ pendingFollowUps: async () => 2, lastSuccessAges: async () => [] });
    m.record({
      trigger: 'change',
      status: 'failed',
      seconds: 0.3,
      outcomes: [
        { ok: true, op: 'create', key: { kind: 'policy' } },
        { ok: false, op: 'create', key: { kind: 'policy' } },
        { ok: false, skipped: true, op: 'delete', key: { kind: 'shovel' } },
        { not: 'an outcome' },
      ],
    });
    const t = await text();
    expect(t).toContain(
      'crossdock_reconcile_pass_duration_seconds_count{trigger="change",outcome="failed"} 1',
    );
    expect(t).toContain(
      'crossdock_reconcile_operations_total{kind="policy",op="create",outcome="succeeded"} 1',
    );
    expect(t).toContain(
      'crossdock_reconcile_operations_total{kind="policy",op="create",outcome="failed"} 1',
    );
    expect(t).toContain(
      'crossdock_reconcile_operations_total{kind="shovel",op="delete",outcome="skipped"} 1',
    );
    expect(t).toContain('crossdock_reconcile_pending_follow_ups 2');
  });

  it('reads the ages at scrape time, so a deleted cluster disappears; a failed read keeps the scrape', async () => {
    let ages = [
      { clusterId: 'c1', name: 'dc1/main', ageSeconds: 4 },
      { clusterId: 'c2', name: 'dc2/main', ageSeconds: 9 },
    ];
    let fail = false;
    const { text } = setup({
      pendingFollowUps: async () => 0,
      lastSuccessAges: async () => {
        if (fail) throw new Error('database down');
        return ages;
      },
    });
    expect(await text()).toContain(
      'crossdock_reconcile_last_success_age_seconds{cluster="c2",name="dc2/main"} 9',
    );
    ages = ages.slice(0, 1);
    const t = await text();
    expect(t).toContain('cluster="c1"');
    expect(t).not.toContain('cluster="c2"');
    fail = true;
    expect(await text()).toContain('crossdock_reconcile_pending_follow_ups 0');
  });
});
