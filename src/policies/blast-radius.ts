import type { PolicyApplyTo } from '../broker-topology/broker-versions';

/** A queue `expires` shorter than this deletes idle queues too soon to notice: destructive. */
export const shortExpiresMs = 3_600_000;

/**
 * Keys that drop messages, refuse publishes or delete queues when they reach a queue: `message-ttl`
 * 0, `max-length`/`max-length-bytes` 0, an `expires` under an hour, and the reject-publish
 * overflow modes. Returned as `key=value` for messages.
 */
export function destructiveKeys(def: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of ['message-ttl', 'max-length', 'max-length-bytes'])
    if (def[key] === 0) out.push(`${key}=0`);
  const expires = def.expires;
  if (typeof expires === 'number' && expires < shortExpiresMs) out.push(`expires=${expires}`);
  if (def.overflow === 'reject-publish' || def.overflow === 'reject-publish-dlx')
    out.push(`overflow=${def.overflow}`);
  return out;
}

/**
 * Names a match-everything pattern has to match: short (no pattern can backtrack long on them)
 * and of every shape a queue name takes (server-named, dotted, federation, non-ASCII, one
 * character).
 */
const probeNames = [
  'a',
  'Z',
  '0',
  '_',
  '-',
  '.',
  ' ',
  'ü',
  '队列',
  'orders',
  'orders.eu-1',
  'Billing_Q/2',
  'amq.gen-JzTY20BRgKO',
  'federation: x -> y',
];

/** True when a policy pattern reaches every queue name (`.*`, `^`, `.`, `^.*$`, `x|.*`, ...). */
export function matchesEveryName(pattern: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch {
    return false;
  }
  return probeNames.every((n) => re.test(n));
}

export interface BlastRadiusCluster {
  clusterId: string;
  name: string;
  /** Queues of the vhost the cluster's last reconcile pass observed; null if never observed. */
  queues: number | null;
}

export interface BlastRadius {
  vhost: string;
  keys: string[];
  clusters: BlastRadiusCluster[];
  /** Queues reached on the observed clusters (what the change touches as far as known). */
  objects: number;
  /** Clusters never observed: their queues are not counted. */
  unobservedClusters: number;
}

/** Whether a queue policy's destructive keys reach every queue of a vhost on several clusters. */
export function needsConfirmation(
  p: { pattern: string; applyTo: PolicyApplyTo; definition: Record<string, unknown> },
  clusterCount: number,
): string[] {
  if (clusterCount < 2 || p.applyTo === 'exchanges') return [];
  const keys = destructiveKeys(p.definition);
  return keys.length > 0 && matchesEveryName(p.pattern) ? keys : [];
}

export function describeBlastRadius(policyName: string, r: BlastRadius): string {
  const count =
    r.unobservedClusters === r.clusters.length
      ? 'queue count unknown: no cluster observed yet'
      : `${r.objects} queue(s) observed${r.unobservedClusters ? `, ${r.unobservedClusters} cluster(s) never observed` : ''}`;
  return `policy "${policyName}" sets ${r.keys.join(', ')} on every queue of vhost "${r.vhost}" on ${r.clusters.length} clusters (${count})`;
}
