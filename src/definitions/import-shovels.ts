import { decodeShovel, linkShovelKeys } from '../broker-topology/shovel.codec';
import type { ObservedObject } from '../reconciliation/broker-state';
import { isRec, key, type ImportContext } from './import-context';
import { clusterOfUris, resourceName } from './import-patterns';
import type { ImportInput, ShovelImport } from './import-types';

/** Every hand-made shovel: adopted as a crossdock shovel, or skipped with why. */
export function planShovels(ctx: ImportContext): void {
  const { input, objects, resources, taken, managed, warn, verdict, skip } = ctx;
  for (const s of objects.filter((o) => o.kind === 'shovel' && !managed(o))) {
    const r = shovelImport(s, input, taken.shovels);
    if ('reason' in r) skip(s, r.reason);
    else {
      resources.push(r);
      verdict(s, {
        action: 'adopt',
        reason: `becomes shovel ${JSON.stringify(r.name)}`,
        resources: [{ type: 'shovel', name: r.name }],
      });
    }
    const v = isRec(s.value) ? s.value : {};
    for (const end of ['src-uri', 'dest-uri'] as const) {
      const w = clusterOfUris(v[end], input.clusters, input.cluster);
      if (w.hasCredentials)
        warn(
          s,
          `${end} carries credentials (not shown here); crossdock's shovel uses the destination cluster's least-privilege link user instead`,
        );
    }
  }
}

function shovelImport(
  s: ObservedObject,
  input: ImportInput,
  taken: Set<string>,
): ShovelImport | { reason: string } {
  const v = isRec(s.value) ? s.value : {};
  const decoded = decodeShovel(v, linkShovelKeys);
  if (!decoded.ok && decoded.stage === 'keys') return { reason: decoded.reason };
  const src = clusterOfUris(v['src-uri'], [input.cluster], input.cluster);
  if (!src.ok)
    return { reason: `source: ${src.reason} (crossdock runs a shovel on its source cluster)` };
  if (!input.cluster.vhosts.includes(src.vhost))
    return { reason: `the source vhost ${JSON.stringify(src.vhost)} is not managed by crossdock` };
  if (src.vhost !== s.vhost)
    return {
      reason:
        'the shovel is defined in another vhost than its source: crossdock defines it in the source vhost',
    };
  const dst = clusterOfUris(v['dest-uri'], input.clusters, input.cluster);
  if (!dst.ok) return { reason: `destination: ${dst.reason}` };
  if (dst.cluster.siteId === input.cluster.siteId)
    return {
      reason: `the destination cluster ${dst.cluster.name} is in the same site: crossdock links join different sites`,
    };
  if (!dst.cluster.vhosts.includes(dst.vhost))
    return {
      reason: `the destination vhost ${JSON.stringify(dst.vhost)} is not managed on cluster ${dst.cluster.name}`,
    };
  if (!decoded.ok) return { reason: decoded.reason };
  const m = decoded.model;
  return {
    type: 'shovel',
    name: resourceName(s.name, taken),
    sourceVhost: src.vhost,
    ...(m.sourceQueue ? { sourceQueue: m.sourceQueue } : {}),
    ...(m.sourceExchange ? { sourceExchange: m.sourceExchange } : {}),
    ...(m.sourceExchangeKey !== undefined ? { sourceExchangeKey: m.sourceExchangeKey } : {}),
    destinationClusterId: dst.cluster.id,
    destinationVhost: dst.vhost,
    ...(m.destinationQueue ? { destinationQueue: m.destinationQueue } : {}),
    ...(m.destinationExchange ? { destinationExchange: m.destinationExchange } : {}),
    ...(m.destinationExchangeKey !== undefined
      ? { destinationExchangeKey: m.destinationExchangeKey }
      : {}),
    settings: m.settings,
    source: key(s),
    originals: [key(s)],
  };
}
