import { managementPaths } from '../broker-topology/broker-paths';
import type { ManagementClient } from '../broker/management-client';
import { BrokerError } from '../broker/management.errors';
import type { ManagementAlarm, ManagementResponse } from '../broker/management.types';
import { diffDeclaredObserved } from './observation.diff';
import {
  mergeAlarms,
  missingPlugins,
  parseNodes,
  parseOverview,
} from '../broker-topology/broker-facts';
import type {
  ClusterObservation,
  DeclaredCluster,
  DeclaredNode,
  NodeReachability,
  ObservedFacts,
  ObservedNode,
  UnknownPart,
} from './observation.types';

/** The part of the client observation uses, so tests can hand in a fake. */
export type ObservationClient = Pick<
  ManagementClient,
  'overview' | 'nodes' | 'clusterName' | 'healthAlarms' | 'nodeIdentity'
>;

async function probe(client: ObservationClient, node: DeclaredNode): Promise<NodeReachability> {
  const started = performance.now();
  try {
    const res = await client.nodeIdentity(node.name);
    return {
      name: node.name,
      managementReachable: true,
      answeredAs: res.body,
      latencyMs: res.latencyMs,
    };
  } catch (err) {
    if (err instanceof BrokerError) {
      const last = err.attempts.at(-1);
      return {
        name: node.name,
        managementReachable: last?.status !== undefined,
        // The attempt's own error is the short form ("connect ECONNREFUSED ...", "HTTP 401").
        error: {
          kind: err.kind,
          message: last && !last.ok && last.error ? last.error : err.message,
        },
        latencyMs: last?.latencyMs ?? Math.round(performance.now() - started),
      };
    }
    if (err instanceof RangeError) {
      return {
        name: node.name,
        managementReachable: false,
        error: { kind: 'unconfigured', message: err.message },
        latencyMs: 0,
      };
    }
    throw err;
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Broker failures become an unknown part; anything else is a bug and propagates. */
async function settle<T>(call: () => Promise<ManagementResponse<T>>): Promise<Settled<T>> {
  try {
    return { ok: true, value: (await call()).body };
  } catch (err) {
    if (err instanceof BrokerError) return { ok: false, reason: `${err.kind}: ${err.message}` };
    throw err;
  }
}

/**
 * Observes one cluster with a constant number of GETs: one cheap identity GET per declared node
 * (in parallel, each bounded by the client's timeout) to tell per-node reachability, then, if any
 * node answered, overview, nodes, cluster name and alarms in parallel. The per-node probes go
 * first so an unreachable cluster costs one timeout, not one per node and endpoint. Never throws
 * for broker trouble: what could not be read is null and listed in `unknown`.
 */
export async function observeCluster(
  client: ObservationClient,
  declared: DeclaredCluster,
): Promise<ClusterObservation> {
  const observedAt = new Date().toISOString();
  const perNode = await Promise.all(declared.nodes.map((n) => probe(client, n)));
  const base: ClusterObservation = {
    reachable: false,
    perNode,
    rabbitmqVersion: null,
    erlangVersion: null,
    clusterName: null,
    nodes: null,
    pluginsMissing: [],
    alarms: null,
    unknown: [],
    observedAt,
    differences: [],
  };
  if (!perNode.some((n) => n.managementReachable)) {
    const facts: ObservedFacts = { ...base, partitionHandling: null };
    return { ...base, differences: diffDeclaredObserved(declared, facts) };
  }

  const [overview, nodes, clusterName, alarms] = await Promise.all([
    settle(() => client.overview()),
    settle(() => client.nodes()),
    settle(() => client.clusterName()),
    settle(() => client.healthAlarms()),
  ]);

  const unknown: UnknownPart[] = [];
  const fail = (endpoint: string, reason: string) => unknown.push({ endpoint, reason });

  const overviewFacts = overview.ok ? parseOverview(overview.value) : overview;
  if (!overviewFacts.ok) fail(managementPaths.overview, overviewFacts.reason);

  let observedNodes: ObservedNode[] | null = null;
  const parsedNodes = nodes.ok ? parseNodes(nodes.value) : nodes;
  if (parsedNodes.ok) observedNodes = parsedNodes.value;
  else fail(managementPaths.nodes, parsedNodes.reason);

  if (!clusterName.ok) fail(managementPaths.clusterName, clusterName.reason);

  let observedAlarms: ManagementAlarm[] | null = null;
  if (alarms.ok) observedAlarms = alarms.value.alarms;
  else fail(managementPaths.alarms, alarms.reason);

  const fromOverview = overviewFacts.ok ? overviewFacts.value : null;
  const merged = observedNodes && mergeAlarms(observedNodes, observedAlarms);
  const facts: ObservedFacts = {
    reachable: true,
    perNode,
    clusterName: clusterName.ok ? clusterName.value : (fromOverview?.clusterName ?? null),
    nodes: merged,
    alarms: observedAlarms,
    partitionHandling: null,
    unknown,
  };
  return {
    ...base,
    reachable: true,
    rabbitmqVersion: fromOverview?.rabbitmqVersion ?? null,
    erlangVersion: fromOverview?.erlangVersion ?? null,
    clusterName: facts.clusterName,
    nodes: merged,
    pluginsMissing: missingPlugins(merged),
    alarms: observedAlarms,
    unknown,
    differences: diffDeclaredObserved(declared, facts),
  };
}
