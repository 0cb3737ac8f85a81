import type { DataSource } from 'typeorm';
import { notifyClustersChanged } from '../common/changes';
import type { ObjectKey, ObservedObject } from './broker-state';
import {
  federatedExchangeOf,
  federationExchangeName,
  federationQueueName,
  federationQueuePrefix,
} from '../broker-topology/broker-paths';
import { ReconcileLinksRepository } from './reconcile-links.repository';

/**
 * A deleted exchange-federation link (deletion policy `delete`) whose upstream queue crossdock
 * still has to delete on the upstream cluster. Upstreams say `resource-cleanup-mode: never`, so
 * the link never deletes that queue itself, and the upstream exchange keeps routing into it
 * after the link is gone.
 */
export interface LinkCleanup {
  id: string;
  linkId: string;
  linkName: string;
  upstreamVhost: string;
  downstreamClusterName: string;
  downstreamVhost: string;
  targets: string[];
  targetPrefix: string | null;
  /** The upstream exchange when the link named one (the queue is named after it). */
  upstreamObject?: string | null;
  /**
   * The downstream cluster no longer runs the link: a pass there succeeded after the deletion and
   * its ledger holds no upstream of the link. Deleting the queue earlier would race the still
   * running link, which re-declares it.
   */
  ready: boolean;
}

/** A broker object of a deleted link, to delete (ready) or to report as waiting. */
export interface CleanupObject {
  key: ObjectKey;
  owner: string;
  /** The `federation: ...` queue the object belongs to (the exchange sits in front of it). */
  queue: string;
  ready: boolean;
  linkName: string;
}

/** Pure: the observed queues and internal exchanges the deleted links leave on this cluster. */
export function cleanupObjects(
  cleanups: readonly LinkCleanup[],
  observed: readonly ObservedObject[],
): CleanupObject[] {
  const exchanges = new Set(
    observed.filter((o) => o.kind === 'exchange').map((o) => `${o.vhost}\u0001${o.name}`),
  );
  const out: CleanupObject[] = [];
  for (const c of cleanups) {
    const link = {
      vhost: c.upstreamVhost,
      downstreamCluster: c.downstreamClusterName,
      downstreamVhost: c.downstreamVhost,
    };
    for (const o of observed) {
      if (o.kind !== 'queue' || o.vhost !== c.upstreamVhost) continue;
      const x = c.upstreamObject
        ? downstreamExchangeOf(o.name, { ...link, exchange: c.upstreamObject })
        : federatedExchangeOf(o.name, link);
      if (x === undefined) continue;
      if (!(c.targetPrefix !== null ? x.startsWith(c.targetPrefix) : c.targets.includes(x))) {
        continue;
      }
      const base = {
        owner: `link:${c.linkId}`,
        queue: o.name,
        ready: c.ready,
        linkName: c.linkName,
      };
      out.push({ ...base, key: { kind: 'queue', vhost: o.vhost, name: o.name } });
      const ex = federationExchangeName(o.name);
      if (exchanges.has(`${o.vhost}\u0001${ex}`)) {
        out.push({ ...base, key: { kind: 'exchange', vhost: o.vhost, name: ex } });
      }
    }
  }
  return out;
}

/**
 * The downstream exchange a `federation: ...` queue belongs to, for a link that pulls from the
 * named upstream exchange `link.exchange`; undefined for any other queue. Exact: rebuilt and compared.
 */
function downstreamExchangeOf(
  queueName: string,
  link: { vhost: string; exchange: string; downstreamCluster: string; downstreamVhost: string },
): string | undefined {
  const head = `${federationQueuePrefix}${link.exchange} -> ${link.downstreamCluster}`;
  if (!queueName.startsWith(head)) return undefined;
  const rest = queueName.slice(head.length);
  let x: string;
  if (link.downstreamVhost !== link.vhost) x = rest.slice(`:${link.downstreamVhost}:`.length);
  else x = rest === '' ? link.exchange : rest.slice(1);
  return x.length > 0 && federationQueueName({ ...link, downstreamExchange: x }) === queueName
    ? x
    : undefined;
}

/** Pending cleanups whose upstream is this cluster, with their readiness. */
export async function loadLinkCleanups(ds: DataSource, clusterId: string): Promise<LinkCleanup[]> {
  const rows = await new ReconcileLinksRepository(ds).cleanupsUpstreamOf(clusterId);
  return rows.map((r) => ({
    id: r.id,
    linkId: r.link_id,
    linkName: r.link_name,
    upstreamVhost: r.upstream_vhost,
    downstreamClusterName: r.downstream_cluster_name,
    downstreamVhost: r.downstream_vhost,
    targets: r.targets,
    targetPrefix: r.target_prefix,
    upstreamObject: r.upstream_object,
    ready: r.ready,
  }));
}

/**
 * After a pass of this cluster applied in full: the ready cleanups it handled are done, and the
 * upstream clusters of links it was downstream of get a pass now (their queues may be ready).
 */
export async function settleLinkCleanups(
  ds: DataSource,
  clusterId: string,
  handled: readonly LinkCleanup[],
): Promise<void> {
  const repo = new ReconcileLinksRepository(ds);
  const done = handled.filter((c) => c.ready).map((c) => c.id);
  if (done.length) {
    await repo.deleteCleanups(done);
  }
  const upstreams = await repo.cleanupUpstreamsOf(clusterId);
  if (upstreams.length) {
    await ds.transaction((m) => notifyClustersChanged(m, upstreams));
  }
}
