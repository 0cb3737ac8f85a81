import type { Queryable } from '../database/queryable';

/** The SQL of the definitions import: what the registry and the ledger hold already. */

/** A `managed_objects` row's broker key. */
export interface LedgerKeyRow {
  kind: string;
  vhost: string;
  name: string;
}

/** A federation link downstream of the cluster, as the import plan compares it. */
export interface ExistingLinkRow {
  name: string;
  kind: 'exchange' | 'queue';
  downstream_vhost: string;
  targets: string[];
  target_prefix: string | null;
}

export interface ExistingLink {
  name: string;
  kind: 'exchange' | 'queue';
  downstreamVhost: string;
  targets: string[];
  targetPrefix: string | null;
}

/** A shovel out of the cluster, as the import plan compares it. */
export interface ExistingShovelRow {
  name: string;
  source_vhost: string;
  source_queue: string | null;
}

export interface ExistingShovel {
  name: string;
  sourceVhost: string;
  sourceQueue: string | null;
}

/** The tables whose names an import must not take. */
export type NamedTable = 'policies' | 'federation_links' | 'shovels';

/** The broker objects of the cluster in the ownership ledger. */
export function ledgerKeys(q: Queryable, clusterId: string): Promise<LedgerKeyRow[]> {
  return q.query<LedgerKeyRow[]>(
    `SELECT kind, vhost, name FROM managed_objects WHERE cluster_id = $1`,
    [clusterId],
  );
}

/** Every name in the table (`table` is a fixed table name, never user input). */
export async function takenNames(q: Queryable, table: NamedTable): Promise<string[]> {
  const rows = await q.query<{ name: string }[]>(`SELECT name FROM ${table}`);
  return rows.map((r) => r.name);
}

export async function existingLinksDownstreamOf(
  q: Queryable,
  clusterId: string,
): Promise<ExistingLink[]> {
  const rows = await q.query<ExistingLinkRow[]>(
    `SELECT name, kind, downstream_vhost, targets, target_prefix FROM federation_links WHERE downstream_cluster_id = $1`,
    [clusterId],
  );
  return rows.map((l) => ({
    name: l.name,
    kind: l.kind,
    downstreamVhost: l.downstream_vhost,
    targets: l.targets,
    targetPrefix: l.target_prefix,
  }));
}

export async function existingShovelsFrom(
  q: Queryable,
  clusterId: string,
): Promise<ExistingShovel[]> {
  const rows = await q.query<ExistingShovelRow[]>(
    `SELECT name, source_vhost, source_queue FROM shovels WHERE source_cluster_id = $1`,
    [clusterId],
  );
  return rows.map((s) => ({
    name: s.name,
    sourceVhost: s.source_vhost,
    sourceQueue: s.source_queue,
  }));
}

/** Records an original broker object in the ownership ledger as owned by `owner`. */
export async function recordOwnedOriginal(
  q: Queryable,
  clusterId: string,
  o: LedgerKeyRow,
  owner: string,
): Promise<void> {
  await q.query(
    `INSERT INTO managed_objects (cluster_id, kind, vhost, name, owner) VALUES ($1, $2, $3, $4, $5)`,
    [clusterId, o.kind, o.vhost, o.name, owner],
  );
}
