import type { AppConfig } from '../config/config.module';
import type { ClusterFacts, FactsWanted } from './broker-facts';
import type { HealthRecorder } from './health-recorder';
import { defaultThresholds, type HealthThresholds, type PathView } from './link-health';
import type { ProbeMetrics } from './probe-metrics';
import type { LinkModel, ProbeModel } from './probe-model';
import type { ProbePath } from './probe-topology';

export interface EvaluationDeps {
  recorder: Pick<HealthRecorder, 'evaluate' | 'flushRefreshes'>;
  metrics: Pick<ProbeMetrics, 'pathUp' | 'retain'>;
  env: Pick<AppConfig, 'PROBE_INTERVAL_MS' | 'TLS_CERT_WARN_DAYS' | 'TLS_CERT_CRITICAL_DAYS'>;
  instanceId: string;
}

/** A link's health thresholds: defaults from the clusters' RTT, overridden by the link's own. */
export function thresholdsFor(
  model: ProbeModel,
  linkId: string,
  probeIntervalMs: number,
): HealthThresholds {
  const l = model.links.find((x) => x.id === linkId);
  const rtt = l ? Math.max(model.rtt(l.fromClusterId), model.rtt(l.toClusterId)) : 50;
  return {
    ...defaultThresholds({ expectedRttMs: rtt, probeIntervalMs }),
    ...(model.health.get(linkId)?.thresholds ?? {}),
  };
}

/**
 * Judges every user link of the held paths from its path's view and the clusters' broker
 * facts (overflow links have no health of their own), records the verdicts and keeps the
 * metrics of held paths and links only.
 */
export async function evaluateLinks(
  d: EvaluationDeps,
  model: ProbeModel,
  paths: readonly { path: ProbePath; view: PathView }[],
  facts: Map<string, ClusterFacts>,
): Promise<void> {
  for (const { path, view } of paths)
    d.metrics.pathUp.set({ path: path.id }, view.status === 'up' ? 1 : 0);
  const held = paths.flatMap((p) => p.path.linkIds.map((id) => [id, p] as const));
  for (const [linkId, p] of held) {
    const link = model.links.find((l) => l.id === linkId);
    if (!link || link.kind === 'overflow') continue;
    await d.recorder.evaluate({
      link,
      model,
      pathId: p.path.id,
      path: p.view,
      facts,
      thresholds: thresholdsFor(model, linkId, d.env.PROBE_INTERVAL_MS),
      instanceId: d.instanceId,
      certificateThresholds: {
        warnDays: d.env.TLS_CERT_WARN_DAYS,
        criticalDays: d.env.TLS_CERT_CRITICAL_DAYS,
      },
    });
  }
  await d.recorder.flushRefreshes();
  await d.metrics.retain(
    new Set(paths.map((p) => p.path.id)),
    new Set(held.map(([id]) => id).filter((id) => model.links.some((l) => l.id === id))),
  );
}

/** Which broker facts a cluster's poll reads for the held links that touch it. */
export function factsWanted(id: string, links: readonly LinkModel[]): FactsWanted {
  return {
    federationLinks: links.some((l) => l.kind === 'federation' && l.toClusterId === id),
    shovels: links.some((l) => l.kind === 'shovel' && l.fromClusterId === id),
    queues: links.some((l) => l.fromClusterId === id),
    exchanges: links.some((l) => l.targetPrefix !== null && l.toClusterId === id),
  };
}
