import type { DataSource } from 'typeorm';
import type { DeleteBlock } from '../clusters/cluster.entity';
import type { PolicyApplyTo } from '../broker-topology/broker-versions';
import type { FederationSettings } from '../links/federation-link.entity';
import type { ShovelSettings } from '../links/shovel.entity';
import type { PlanOp } from './broker-state';
import { describeKey, objectId } from '../broker-topology/broker-paths';
import { compileCluster, type RegistrySnapshot } from './compile';
import type { DeclaredObject } from './compile-topology';
import { ReconcileRunsRepository } from './reconcile-runs.repository';

/**
 * The mass-delete guard stops deletes nobody asked for (an emptied or wrong database, a bug).
 * A delete is explained when the registry as it was before the audited deletions, pauses and
 * shovel completions since the cluster's last successful pass still wants the object: those
 * changes asked for it. Rows removed behind crossdock's back leave no audit event and stay
 * unexplained.
 */
export const explainingActions = [
  'federation-link.delete',
  'federation-link.pause',
  'shovel.delete',
  'shovel.pause',
  'shovel.completed',
  'policy.delete',
  'exchange.delete',
  'queue.delete',
  'binding.delete',
] as const;

/** The audited changes since the last successful pass, as registry rows to put back. */
export interface Explanations {
  deletedLinks: RegistrySnapshot['federationLinks'];
  deletedShovels: RegistrySnapshot['shovels'];
  deletedPolicies: (RegistrySnapshot['policies'][number] & {
    scope: string;
    clusterId: string | null;
    siteId: string | null;
  })[];
  /** Declared exchanges, queues and bindings deleted through the API (their cluster kept). */
  deletedDeclared?: (DeclaredObject & { clusterId: string })[];
  /** Rows still in the registry that were paused or completed: wanted again. */
  undone: Set<string>;
}

/** A declaration as its audited view had it, back in the shape a snapshot holds. */
export function declaredFromView(
  kind: DeclaredObject['kind'],
  b: Record<string, unknown>,
): DeclaredObject & { clusterId: string } {
  const common = { id: str(b.id), kind, vhost: str(b.vhost), clusterId: str(b.clusterId) };
  const args = rec(b.arguments);
  if (kind === 'binding')
    return {
      ...common,
      name: '',
      definition: {
        source: str(b.source),
        destinationType: b.destinationType === 'exchange' ? 'exchange' : 'queue',
        destination: str(b.destination),
        routingKey: str(b.routingKey),
        arguments: args,
      },
    };
  const definition: Record<string, unknown> = {
    type: b.type,
    durable: b.durable,
    autoDelete: b.autoDelete,
    arguments: args,
  };
  if (kind === 'exchange') definition.internal = b.internal;
  return { ...common, name: str(b.name), definition };
}

/** Most events a pass reads back; a window holding more is not a plausible explanation. */
const maxEvents = 2000;

export async function loadExplanations(ds: DataSource, clusterId: string): Promise<Explanations> {
  const rows = await new ReconcileRunsRepository(ds).eventsSinceLastSuccess(
    clusterId,
    explainingActions,
    maxEvents,
  );
  const e: Explanations = {
    deletedLinks: [],
    deletedShovels: [],
    deletedPolicies: [],
    deletedDeclared: [],
    undone: new Set(),
  };
  for (const r of rows) {
    if (!r.action.endsWith('.delete')) {
      if (r.resourceId) e.undone.add(r.resourceId);
      continue;
    }
    if (!isRecord(r.before)) continue;
    const b = r.before;
    if (r.action === 'federation-link.delete') {
      const down = rec(b.downstream);
      const up = rec(b.upstream);
      e.deletedLinks.push({
        id: str(b.id),
        name: str(b.name),
        kind: b.kind === 'queue' ? 'queue' : 'exchange',
        downstreamClusterId: str(down.clusterId),
        downstreamVhost: str(down.vhost),
        upstreamClusterId: str(up.clusterId),
        upstreamVhost: str(up.vhost),
        targets: Array.isArray(b.targets) ? b.targets.map(String) : [],
        targetPrefix: typeof b.targetPrefix === 'string' ? b.targetPrefix : null,
        brokerUpstreamName: typeof b.brokerUpstreamName === 'string' ? b.brokerUpstreamName : null,
        settings: rec(b.settings) as FederationSettings,
        paused: false,
      });
    } else if (r.action === 'shovel.delete') {
      const src = rec(b.source);
      const dst = rec(b.destination);
      e.deletedShovels.push({
        id: str(b.id),
        name: str(b.name),
        sourceClusterId: str(src.clusterId),
        sourceVhost: str(src.vhost),
        sourceQueue: strOrNull(src.queue),
        sourceExchange: strOrNull(src.exchange),
        sourceExchangeKey: strOrNull(src.exchangeKey),
        destinationClusterId: str(dst.clusterId),
        destinationVhost: str(dst.vhost),
        destinationQueue: strOrNull(dst.queue),
        destinationExchange: strOrNull(dst.exchange),
        destinationExchangeKey: strOrNull(dst.exchangeKey),
        settings: rec(b.settings) as ShovelSettings,
        paused: false,
        completedAt: null,
      });
    } else if (
      r.action === 'exchange.delete' ||
      r.action === 'queue.delete' ||
      r.action === 'binding.delete'
    ) {
      const kind = r.action.slice(0, r.action.indexOf('.')) as DeclaredObject['kind'];
      e.deletedDeclared?.push(declaredFromView(kind, b));
    } else if (r.action === 'policy.delete') {
      e.deletedPolicies.push({
        id: str(b.id),
        name: str(b.name),
        vhost: str(b.vhost),
        pattern: str(b.pattern),
        applyTo: str(b.applyTo) as PolicyApplyTo,
        priority: typeof b.priority === 'number' ? b.priority : 0,
        definition: rec(b.definition),
        scope: str(b.scope),
        clusterId: strOrNull(b.clusterId),
        siteId: strOrNull(b.siteId),
      });
    }
  }
  return e;
}

/**
 * Pure: the snapshot with the explained changes undone (deleted rows back, paused and completed
 * rows live). Link credentials only shape URIs, never object names: placeholders where missing.
 */
export function counterfactualSnapshot(s: RegistrySnapshot, e: Explanations): RegistrySnapshot {
  const me = s.cluster.id;
  const has = new Set([
    ...s.federationLinks.map((l) => l.id),
    ...s.shovels.map((x) => x.id),
    ...s.policies.map((p) => p.id),
    ...(s.declared ?? []).map((d) => d.id),
  ]);
  const credentials = { ...s.linkCredentials };
  for (const id of Object.keys(s.clusters))
    credentials[id] ??= { username: 'placeholder', password: 'placeholder' };
  return {
    ...s,
    linkCredentials: credentials,
    federationLinks: [
      ...s.federationLinks.map((l) => (e.undone.has(l.id) ? { ...l, paused: false } : l)),
      ...e.deletedLinks.filter(
        (l) => !has.has(l.id) && (l.downstreamClusterId === me || l.upstreamClusterId === me),
      ),
    ],
    shovels: [
      ...s.shovels.map((x) =>
        e.undone.has(x.id) ? { ...x, paused: false, completedAt: null } : x,
      ),
      ...e.deletedShovels.filter(
        (x) => !has.has(x.id) && (x.sourceClusterId === me || x.destinationClusterId === me),
      ),
    ],
    policies: [
      ...s.policies,
      ...e.deletedPolicies
        .filter(
          (p) =>
            !has.has(p.id) &&
            (p.scope === 'global' ||
              (p.scope === 'cluster' && p.clusterId === me) ||
              (p.scope === 'site' && p.siteId === s.cluster.siteId)),
        )
        .map(({ scope: _s, clusterId: _c, siteId: _x, ...p }) => p),
    ],
    declared: [
      ...(s.declared ?? []),
      ...(e.deletedDeclared ?? [])
        .filter((d) => !has.has(d.id) && d.clusterId === me)
        .map(({ clusterId: _c, ...d }) => d),
    ],
  };
}

/** Pure: the owned deletes of a plan that no explained change asks for. */
export function unexplainedDeletes(
  deletes: readonly PlanOp[],
  snapshot: RegistrySnapshot,
  e: Explanations,
): PlanOp[] {
  if (deletes.length === 0) return [];
  const before = compileCluster(counterfactualSnapshot(snapshot, e));
  const explained = new Set(before.objects.map((o) => objectId(o)));
  return deletes.filter((o) => !explained.has(objectId(o.key)));
}

/** Pure: what a blocked pass leaves on its cluster for users to see. */
export function deleteBlock(input: {
  clusterId: string;
  runId: string;
  reason: string;
  deletes: readonly PlanOp[];
  unexplained: readonly PlanOp[];
  previous: DeleteBlock | null;
  now: Date;
}): DeleteBlock {
  const objects = input.unexplained.slice(0, 20).map((o) => describeKey(o.key));
  const owners = [...new Set(input.deletes.map((o) => o.owner))].sort();
  const same =
    input.previous &&
    input.previous.unexplained === input.unexplained.length &&
    JSON.stringify(input.previous.objects) === JSON.stringify(objects);
  return {
    since: same && input.previous ? input.previous.since : input.now.toISOString(),
    runId: input.runId,
    reason: input.reason,
    deletes: input.deletes.length,
    unexplained: input.unexplained.length,
    owners,
    objects,
    confirm: {
      method: 'POST',
      path: '/reconcile',
      body: { clusterId: input.clusterId, confirmDeletes: true },
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);
