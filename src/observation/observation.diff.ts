import { alarmResource, missingPlugins, requiredPlugins } from '../broker-topology/broker-facts';
import type {
  DeclaredCluster,
  Difference,
  DifferenceKind,
  ObservedFacts,
  ObservedNode,
} from './observation.types';

function describeErrors(facts: ObservedFacts): string {
  return facts.perNode
    .map((n) => `${n.name}: ${n.error ? `${n.error.kind} (${n.error.message})` : 'no answer'}`)
    .join('; ');
}

/** Alarm differences from both sources, one per node and resource. */
function alarmDifferences(facts: ObservedFacts): Difference[] {
  const seen = new Set<string>();
  const out: Difference[] = [];
  const add = (node: string, resource: string) => {
    const res = alarmResource(resource);
    const kind: DifferenceKind =
      res === 'memory' ? 'memory-alarm' : res === 'disk' ? 'disk-alarm' : 'resource-alarm';
    const key = `${kind}\u0000${node}\u0000${res === 'other' ? resource : ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    const what = res === 'memory' ? 'memory' : res === 'disk' ? 'disk space' : resource;
    out.push({ kind, node, detail: `${node} has a ${what} alarm: publishers are blocked` });
  };
  for (const n of facts.nodes ?? []) {
    if (n.memAlarm) add(n.name, 'memory');
    if (n.diskAlarm) add(n.name, 'disk space');
  }
  for (const a of facts.alarms ?? []) add(a.node, a.resource);
  return out;
}

/** Running-state problems any member can have, declared or not. */
function memberHealth(n: ObservedNode): Difference[] {
  if (!n.running || n.partitions.length === 0) return [];
  return [
    {
      kind: 'network-partition',
      node: n.name,
      detail: `${n.name} is partitioned from ${n.partitions.join(', ')}`,
    },
  ];
}

/**
 * Pure comparison of what the registry declares with what the broker reports. Parts the broker
 * did not tell us (null facts) are skipped here and reported once as `observation-incomplete`,
 * so an unreadable endpoint never shows up as a fake mismatch.
 */
export function diffDeclaredObserved(
  declared: DeclaredCluster,
  facts: ObservedFacts,
): Difference[] {
  if (!facts.reachable) {
    return [
      {
        kind: 'cluster-unreachable',
        detail: `no management endpoint of cluster ${declared.brokerClusterName} answered: ${describeErrors(facts)}`,
      },
    ];
  }
  const out: Difference[] = facts.unknown.map((u) => ({
    kind: 'observation-incomplete',
    detail: `${u.endpoint} could not be read (${u.reason}); what it reports is unknown`,
  }));

  if (facts.clusterName !== null && facts.clusterName !== declared.brokerClusterName) {
    out.push({
      kind: 'cluster-name-mismatch',
      detail: `cluster name is ${JSON.stringify(facts.clusterName)}, declared ${JSON.stringify(declared.brokerClusterName)}`,
    });
  }

  // The 3.10 management API does not expose cluster_partition_handling (not in /api/overview,
  // /api/nodes or any other endpoint; only `rabbitmq-diagnostics environment` shows it), so this
  // check only fires when the fact was obtained some other way.
  if (
    declared.partitionHandling !== undefined &&
    facts.partitionHandling !== null &&
    facts.partitionHandling !== declared.partitionHandling
  ) {
    out.push({
      kind: 'partition-handling-mismatch',
      detail: `partition handling is ${facts.partitionHandling}, declared ${declared.partitionHandling}`,
    });
  }

  const observed = facts.nodes ? new Map(facts.nodes.map((n) => [n.name, n])) : null;
  const reach = new Map(facts.perNode.map((r) => [r.name, r]));

  for (const d of declared.nodes) {
    const o = observed?.get(d.name);
    if (observed && !o) {
      out.push({
        kind: 'node-not-member',
        node: d.name,
        detail: `${d.name} is declared but is not a member of the cluster`,
      });
    }
    if (o && !o.running) {
      out.push({
        kind: 'node-not-running',
        node: d.name,
        detail: `${d.name} is a member but is not running`,
      });
    }
    if (o && o.type !== null && o.type !== d.type) {
      out.push({
        kind: 'node-type-mismatch',
        node: d.name,
        detail: `${d.name} is a ${o.type} node, declared ${d.type}`,
      });
    }
    const r = reach.get(d.name);
    // A stopped node's listener is down by definition: node-not-running says it already.
    if (r && !r.managementReachable && !(o && !o.running)) {
      out.push({
        kind: 'node-management-unreachable',
        node: d.name,
        detail: `management endpoint ${d.host}:${d.managementPort} of ${d.name} did not answer${r.error ? `: ${r.error.kind} (${r.error.message})` : ''}`,
      });
    }
    if (r?.answeredAs !== undefined && r.answeredAs !== d.name) {
      out.push({
        kind: 'management-endpoint-mismatch',
        node: d.name,
        detail: `management endpoint ${d.host}:${d.managementPort} declared for ${d.name} is served by ${r.answeredAs}`,
      });
    }
  }

  const declaredNames = new Set(declared.nodes.map((n) => n.name));
  for (const o of facts.nodes ?? []) {
    if (!declaredNames.has(o.name)) {
      out.push({
        kind: 'undeclared-member',
        node: o.name,
        detail: `${o.name} is a ${o.running ? 'running' : 'stopped'} member of the cluster but is not declared`,
      });
    }
  }
  for (const o of facts.nodes ?? []) out.push(...memberHealth(o));
  out.push(...alarmDifferences(facts));
  for (const m of missingPlugins(facts.nodes, requiredPlugins)) {
    out.push({
      kind: 'plugin-missing',
      node: m.node,
      detail: `${m.node} does not have ${m.plugins.join(', ')} enabled`,
    });
  }
  return out;
}
