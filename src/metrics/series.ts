import type { Counter, Gauge, Histogram } from 'prom-client';

type Labelled = Gauge<string> | Counter<string> | Histogram<string>;

/**
 * Drops the series of `metric` whose `label` is not in `live`: the subject was deleted, or
 * another replica holds it now. Without this a deleted link's last value (`crossdock_link_up 0`,
 * say) is exported for ever and an alert on it never clears.
 */
export async function retainSeries(
  metric: Labelled,
  label: string,
  live: ReadonlySet<string>,
): Promise<void> {
  const { values } = await metric.get();
  const gone = new Map<string, Record<string, string | number>>();
  for (const v of values) {
    const key = v.labels[label];
    if (key === undefined || live.has(String(key))) continue;
    // A histogram lists each bucket (`le`) and its sum and count: one series set per labels.
    const labels: Record<string, string | number> = {};
    for (const [k, x] of Object.entries(v.labels)) if (k !== 'le' && x !== undefined) labels[k] = x;
    gone.set(JSON.stringify(labels), labels);
  }
  for (const labels of gone.values()) metric.remove(labels);
}
