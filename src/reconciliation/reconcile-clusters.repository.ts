import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Client } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import { changesChannel } from '../common/changes';
import type { Queryable } from '../database/queryable';

/** Which clusters a reconcile request covers: one, a site's, or all. */
export interface ClusterScope {
  clusterId?: string;
  siteId?: string;
}

/** A cluster or site whose reconciliation was suspended or resumed. */
export interface SuspensionTarget {
  name: string;
  /** The site itself (a site), or the cluster's site. */
  siteId: string;
}

/** The cluster and site rows a pass is started for, and the reconcile switches on them. */
@Injectable()
export class ReconcileClustersRepository {
  constructor(@InjectDataSource() private readonly ds: Pick<DataSource, 'query' | 'transaction'>) {}

  /** The ids of the clusters in scope, in registration order (a cluster: it, if it exists). */
  async idsIn(scope: ClusterScope): Promise<string[]> {
    const rows = (await this.ds.query(
      scope.clusterId
        ? `SELECT id FROM clusters WHERE id = $1`
        : scope.siteId
          ? `SELECT id FROM clusters WHERE site_id = $1 ORDER BY seq`
          : `SELECT id FROM clusters ORDER BY seq`,
      scope.clusterId ? [scope.clusterId] : scope.siteId ? [scope.siteId] : [],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** Every cluster, in registration order. */
  async allIds(): Promise<string[]> {
    const rows = (await this.ds.query(`SELECT id FROM clusters ORDER BY seq`)) as {
      id: string;
    }[];
    return rows.map((r) => r.id);
  }

  async siteExists(siteId: string): Promise<boolean> {
    const site = (await this.ds.query(`SELECT 1 FROM sites WHERE id = $1`, [siteId])) as unknown[];
    return site.length > 0;
  }

  /**
   * Sets `reconcile_suspended` of a cluster or site in a transaction that `then` joins (with
   * the row changed, undefined when there is none); it commits when `then` returns.
   */
  async setSuspended(
    table: 'clusters' | 'sites',
    id: string,
    suspended: boolean,
    then: (m: EntityManager, target: SuspensionTarget | undefined) => Promise<void>,
  ): Promise<void> {
    await this.ds.transaction(async (m) => {
      await then(m, await setReconcileSuspended(m, table, id, suspended));
    });
  }
}

async function setReconcileSuspended(
  m: Pick<EntityManager, 'query'>,
  table: 'clusters' | 'sites',
  id: string,
  suspended: boolean,
): Promise<SuspensionTarget | undefined> {
  const rows = (await m.query(
    `UPDATE ${table} SET reconcile_suspended = $2 WHERE id = $1 RETURNING name, ${table === 'sites' ? 'id' : 'site_id'} AS site_id`,
    [id, suspended],
  )) as { name: string; site_id: string }[][];
  const row = rows[0]?.[0];
  return row && { name: row.name, siteId: row.site_id };
}

/** Subscribes the (dedicated, connected) client to the cluster-change notifications. */
export async function listenForClusterChanges(client: Pick<Client, 'query'>): Promise<void> {
  await client.query(`LISTEN ${changesChannel}`);
}

/** Shows a mass-delete block on the cluster (`block`: its JSON). */
export async function setDeleteBlocked(
  m: Pick<EntityManager, 'query'>,
  clusterId: string,
  block: object,
): Promise<void> {
  await m.query(`UPDATE clusters SET delete_blocked = $2 WHERE id = $1`, [
    clusterId,
    JSON.stringify(block),
  ]);
}

export async function clearDeleteBlocked(
  m: Pick<EntityManager, 'query'>,
  clusterId: string,
): Promise<void> {
  await m.query(`UPDATE clusters SET delete_blocked = NULL WHERE id = $1`, [clusterId]);
}

/** Stores the broker version a pass just saw, when it changed. */
export async function storeBrokerVersion(
  q: Queryable,
  clusterId: string,
  brokerVersion: string | null,
): Promise<void> {
  await q.query(
    `UPDATE clusters SET broker_version = $2 WHERE id = $1 AND broker_version IS DISTINCT FROM $2`,
    [clusterId, brokerVersion],
  );
}

/** What a pass needs of its cluster's site: its reconcile switch and "site/cluster". */
export interface PassSiteRow {
  reconcile_suspended: boolean;
  name: string;
}

/** The site of a pass (undefined when it is gone), named "site/`clusterName`". */
export async function passSite(
  q: Queryable,
  siteId: string,
  clusterName: string,
): Promise<PassSiteRow | undefined> {
  const [site] = (await q.query(
    `SELECT reconcile_suspended, name || '/' || $2 AS name FROM sites WHERE id = $1`,
    [siteId, clusterName],
  )) as PassSiteRow[];
  return site;
}
