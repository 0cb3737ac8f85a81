import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { ShovelSettings } from '../links/shovel.entity';

type Sql = Pick<EntityManager, 'query'>;

/** What a restart needs of a federation link. */
export interface RestartableFederationLink {
  id: string;
  name: string;
  paused: boolean;
  downstreamClusterId: string;
  upstreamClusterId: string;
  downstreamVhost: string;
  brokerUpstreamName: string | null;
}

/** What a restart needs of a shovel. */
export interface RestartableShovel {
  id: string;
  name: string;
  paused: boolean;
  sourceClusterId: string;
  destinationClusterId: string;
  sourceVhost: string;
}

/** A `federation_link_cleanups` row with its readiness (see LinkCleanup). */
export interface LinkCleanupRow {
  id: string;
  link_id: string;
  link_name: string;
  upstream_vhost: string;
  downstream_cluster_name: string;
  downstream_vhost: string;
  targets: string[];
  target_prefix: string | null;
  upstream_object: string | null;
  ready: boolean;
}

/** A shovel not completed yet, locked for its completion. */
export interface OpenShovel {
  name: string;
  settings: ShovelSettings;
  sourceClusterId: string;
  destinationClusterId: string;
}

/**
 * The link rows the reconciler acts on outside a pass plan: restarts, the cleanups deleted
 * exchange-federation links leave, and shovel completions (the last run on the caller's
 * transaction).
 */
@Injectable()
export class ReconcileLinksRepository {
  constructor(@InjectDataSource() private readonly ds: Pick<DataSource, 'query'>) {}

  async federationLink(id: string): Promise<RestartableFederationLink | undefined> {
    const [l] = (await this.ds.query(
      `SELECT id, name, paused, downstream_cluster_id, upstream_cluster_id, downstream_vhost, broker_upstream_name
         FROM federation_links WHERE id = $1`,
      [id],
    )) as {
      id: string;
      name: string;
      paused: boolean;
      downstream_cluster_id: string;
      upstream_cluster_id: string;
      downstream_vhost: string;
      broker_upstream_name: string | null;
    }[];
    return (
      l && {
        id: l.id,
        name: l.name,
        paused: l.paused,
        downstreamClusterId: l.downstream_cluster_id,
        upstreamClusterId: l.upstream_cluster_id,
        downstreamVhost: l.downstream_vhost,
        brokerUpstreamName: l.broker_upstream_name,
      }
    );
  }

  async shovel(id: string): Promise<RestartableShovel | undefined> {
    const [s] = (await this.ds.query(
      `SELECT id, name, paused, source_cluster_id, destination_cluster_id, source_vhost FROM shovels WHERE id = $1`,
      [id],
    )) as {
      id: string;
      name: string;
      paused: boolean;
      source_cluster_id: string;
      destination_cluster_id: string;
      source_vhost: string;
    }[];
    return (
      s && {
        id: s.id,
        name: s.name,
        paused: s.paused,
        sourceClusterId: s.source_cluster_id,
        destinationClusterId: s.destination_cluster_id,
        sourceVhost: s.source_vhost,
      }
    );
  }

  /** The distinct sites of the clusters. */
  async siteIdsOf(clusterIds: string[]): Promise<string[]> {
    const siteRows = (await this.ds.query(
      `SELECT DISTINCT site_id FROM clusters WHERE id = ANY($1::uuid[])`,
      [clusterIds],
    )) as { site_id: string }[];
    return siteRows.map((r) => r.site_id);
  }

  /** Pending cleanups whose upstream is this cluster, oldest first, with their readiness. */
  async cleanupsUpstreamOf(clusterId: string): Promise<LinkCleanupRow[]> {
    return (await this.ds.query(
      `SELECT c.id, c.link_id, c.link_name, c.upstream_vhost, c.downstream_cluster_name,
            c.downstream_vhost, c.targets, c.target_prefix, c.upstream_object,
            NOT EXISTS (
              SELECT 1 FROM managed_objects mo
              WHERE mo.cluster_id = c.downstream_cluster_id AND mo.kind = 'federation-upstream'
                AND mo.owner = 'link:' || c.link_id::text)
            AND EXISTS (
              SELECT 1 FROM reconcile_runs r
              WHERE r.cluster_id = c.downstream_cluster_id AND r.status = 'succeeded'
                AND NOT r.dry_run AND r.started_at > c.created_at) AS ready
     FROM federation_link_cleanups c WHERE c.upstream_cluster_id = $1 ORDER BY c.created_at`,
      [clusterId],
    )) as LinkCleanupRow[];
  }

  async deleteCleanups(ids: string[]): Promise<void> {
    await this.ds.query(`DELETE FROM federation_link_cleanups WHERE id = ANY($1)`, [ids]);
  }

  /** The upstream clusters of the pending cleanups of links this cluster was downstream of. */
  async cleanupUpstreamsOf(clusterId: string): Promise<string[]> {
    const upstreams = (await this.ds.query(
      `SELECT DISTINCT upstream_cluster_id AS id FROM federation_link_cleanups WHERE downstream_cluster_id = $1`,
      [clusterId],
    )) as { id: string }[];
    return upstreams.map((u) => u.id);
  }
}

/** Drops the ledger row of a broker object. */
export async function forgetManagedObject(
  m: Sql,
  clusterId: string,
  key: { kind: string; vhost: string; name: string },
): Promise<void> {
  await m.query(
    `DELETE FROM managed_objects WHERE cluster_id = $1 AND kind = $2 AND vhost = $3 AND name = $4`,
    [clusterId, key.kind, key.vhost, key.name],
  );
}

/** Locks the shovel (FOR UPDATE) unless it is gone or completed already. */
export async function lockOpenShovel(m: Sql, id: string): Promise<OpenShovel | undefined> {
  const [row] = (await m.query(
    `SELECT name, settings, source_cluster_id, destination_cluster_id FROM shovels
          WHERE id = $1 AND completed_at IS NULL FOR UPDATE`,
    [id],
  )) as {
    name: string;
    settings: ShovelSettings;
    source_cluster_id: string;
    destination_cluster_id: string;
  }[];
  return (
    row && {
      name: row.name,
      settings: row.settings,
      sourceClusterId: row.source_cluster_id,
      destinationClusterId: row.destination_cluster_id,
    }
  );
}

/** Marks the shovel completed now (`completion`: its JSON); when, as the database says. */
export async function completeShovel(
  m: Sql,
  id: string,
  completion: object,
): Promise<Date | undefined> {
  const [updated] = (await m.query(
    `UPDATE shovels SET completed_at = now(), completion = $2 WHERE id = $1 RETURNING completed_at`,
    [id, JSON.stringify(completion)],
  )) as [{ completed_at: Date }[], number];
  return updated[0]?.completed_at;
}

/** The distinct sites of the clusters, on the caller's transaction. */
export async function clusterSiteIds(m: Sql, clusterIds: string[]): Promise<string[]> {
  const sites = (await m.query(`SELECT DISTINCT site_id FROM clusters WHERE id = ANY($1)`, [
    clusterIds,
  ])) as { site_id: string }[];
  return sites.map((s) => s.site_id);
}
