import type { Queryable } from '../database/queryable';
import type { HealthReason, HealthState, HealthThresholds } from './link-health';

/** The SQL of probes: the link model, link health and probe paths (samples: probe-samples.repository.ts). */

export type LinkKind = 'federation' | 'shovel';

/** One user link of any kind (federation link, shovel, overflow rule), as the probes read it. */
export interface LinkModelRow {
  id: string;
  kind: 'federation' | 'shovel' | 'overflow';
  name: string;
  federation_kind: 'exchange' | 'queue' | null;
  from_id: string;
  to_id: string;
  from_vhost: string;
  to_vhost: string;
  targets: string[] | null;
  target_prefix: string | null;
  source_queue: string | null;
  paused: boolean;
  seq: string;
  broker_upstream_name: string | null;
  upstream_object: string | null;
}

export interface ProbeClusterRow {
  id: string;
  broker_cluster_name: string;
  site_id: string;
  version: number;
}

export interface SiteRttRow {
  id: string;
  expected_rtt_ms: number;
}

export interface StoredHealthRow {
  link_id: string;
  state: HealthState;
  reasons: HealthReason[];
  thresholds: Partial<HealthThresholds>;
  since: Date;
}

/** A link with its stored health (all health columns null when never evaluated). */
export interface LinkHealthRow {
  id: string;
  name: string;
  paused: boolean;
  completed_at: Date | null;
  seq: string;
  state: HealthState | null;
  reasons: HealthReason[] | null;
  vals: Record<string, unknown> | null;
  thresholds: Partial<HealthThresholds> | null;
  path_id: string | null;
  since: Date | null;
  evaluated_at: Date | null;
  evaluated_by: string | null;
  rtt: number;
}

export interface LinkEndsRow {
  id: string;
  name: string;
  a: string;
  b: string;
}

export interface PathLinkRow {
  id: string;
  a: string;
  b: string;
  paused: boolean;
  k: LinkKind;
}

const tables: Record<LinkKind, { table: string; from: string; to: string; completedAt: string }> = {
  federation: {
    table: 'federation_links',
    from: 'upstream_cluster_id',
    to: 'downstream_cluster_id',
    completedAt: 'NULL::timestamptz',
  },
  shovel: {
    table: 'shovels',
    from: 'source_cluster_id',
    to: 'destination_cluster_id',
    completedAt: 'l.completed_at',
  },
};

export function linkModelRows(q: Queryable): Promise<LinkModelRow[]> {
  return q.query<LinkModelRow[]>(
    `SELECT id, 'federation' AS kind, name, kind AS federation_kind, upstream_cluster_id AS from_id,
              downstream_cluster_id AS to_id, upstream_vhost AS from_vhost, downstream_vhost AS to_vhost,
              targets, target_prefix, NULL AS source_queue, paused, seq, broker_upstream_name,
              upstream_object
         FROM federation_links
       UNION ALL
       SELECT id, 'shovel', name, NULL, source_cluster_id, destination_cluster_id, source_vhost,
              destination_vhost, '{}'::text[], NULL, source_queue, paused OR completed_at IS NOT NULL, seq, NULL, NULL
         FROM shovels
       UNION ALL
       SELECT id, 'overflow', name, NULL, cluster_id, remote_cluster_id, vhost, remote_vhost,
              '{}'::text[], NULL, queue, NOT enabled, seq, NULL, NULL
         FROM overflow_rules
       ORDER BY seq`,
  );
}

export function probeClusterRows(q: Queryable): Promise<ProbeClusterRow[]> {
  return q.query<ProbeClusterRow[]>(
    `SELECT id, broker_cluster_name, site_id, version FROM clusters`,
  );
}

export function siteRttRows(q: Queryable): Promise<SiteRttRow[]> {
  return q.query<SiteRttRow[]>(`SELECT id, expected_rtt_ms FROM sites`);
}

export function storedHealthRows(q: Queryable): Promise<StoredHealthRow[]> {
  return q.query<StoredHealthRow[]>(
    `SELECT link_id, state, reasons, thresholds, since FROM link_health`,
  );
}

/** Links of a kind with their stored health and the larger expected RTT of their two sites. */
export function linkHealthRows(
  q: Queryable,
  kind: LinkKind,
  ids: string[],
): Promise<LinkHealthRow[]> {
  const t = tables[kind];
  return q.query<LinkHealthRow[]>(
    `SELECT l.id, l.name, l.paused, ${t.completedAt} AS completed_at, l.seq, h.state, h.reasons, h.vals, h.thresholds, h.path_id, h.since,
              h.evaluated_at, h.evaluated_by,
              GREATEST(COALESCE(sf.expected_rtt_ms, 50), COALESCE(st.expected_rtt_ms, 50)) AS rtt
         FROM ${t.table} l
         LEFT JOIN link_health h ON h.link_id = l.id
         LEFT JOIN clusters cf ON cf.id = l.${t.from} LEFT JOIN sites sf ON sf.id = cf.site_id
         LEFT JOIN clusters ct ON ct.id = l.${t.to} LEFT JOIN sites st ON st.id = ct.site_id
        WHERE l.id = ANY($1::uuid[]) ORDER BY l.seq`,
    [ids],
  );
}

/** The link and its two clusters, the row locked until the transaction ends. */
export async function lockLinkEnds(
  m: Queryable,
  kind: LinkKind,
  id: string,
): Promise<LinkEndsRow | undefined> {
  const t = tables[kind];
  const [link] = await m.query<LinkEndsRow[]>(
    `SELECT id, name, ${t.from} AS a, ${t.to} AS b FROM ${t.table} WHERE id = $1 FOR UPDATE`,
    [id],
  );
  return link;
}

export async function storedThresholds(
  m: Queryable,
  linkId: string,
): Promise<Record<string, unknown> | undefined> {
  const [before] = await m.query<{ thresholds: Record<string, unknown> }[]>(
    `SELECT thresholds FROM link_health WHERE link_id = $1`,
    [linkId],
  );
  return before?.thresholds;
}

export async function writeThresholds(
  m: Queryable,
  linkId: string,
  kind: LinkKind,
  overrides: Record<string, number>,
): Promise<void> {
  await m.query(
    `INSERT INTO link_health (link_id, link_kind, thresholds) VALUES ($1, $2, $3)
         ON CONFLICT (link_id) DO UPDATE SET thresholds = $3`,
    [linkId, kind, JSON.stringify(overrides)],
  );
}

export async function sitesOfClusters(m: Queryable, clusterIds: string[]): Promise<string[]> {
  const rows = await m.query<{ site_id: string }[]>(
    `SELECT DISTINCT site_id FROM clusters WHERE id = ANY($1::uuid[])`,
    [clusterIds],
  );
  return rows.map((s) => s.site_id);
}

export async function siteExists(q: Queryable, siteId: string): Promise<boolean> {
  const [site] = await q.query<{ id: string }[]>(`SELECT id FROM sites WHERE id = $1`, [siteId]);
  return !!site;
}

/** Ids of the links of a kind with an end in the site (a link within the site appears twice). */
export async function linkIdsTouchingSite(
  q: Queryable,
  kind: LinkKind,
  siteId: string,
): Promise<string[]> {
  const t = tables[kind];
  const ids = await q.query<{ id: string }[]>(
    `SELECT l.id FROM ${t.table} l JOIN clusters c ON c.id IN (l.${t.from}, l.${t.to}) WHERE c.site_id = $1`,
    [siteId],
  );
  return ids.map((x) => x.id);
}

/** Every link with a probe path (overflow rules travel as shovels). */
export function pathLinkRows(q: Queryable): Promise<PathLinkRow[]> {
  return q.query<PathLinkRow[]>(
    `SELECT id, upstream_cluster_id AS a, downstream_cluster_id AS b, paused, 'federation' AS k, seq FROM federation_links
       UNION ALL SELECT id, source_cluster_id, destination_cluster_id, paused OR completed_at IS NOT NULL, 'shovel', seq FROM shovels
       UNION ALL SELECT id, cluster_id, remote_cluster_id, NOT enabled, 'shovel', seq FROM overflow_rules ORDER BY seq`,
  );
}

/**
 * Refreshes unchanged verdicts in one statement; `columns` are the seven value columns (link id,
 * kind, path id, state, reasons JSON, values JSON, evaluator), one array each.
 */
export async function refreshLinkHealth(q: Queryable, columns: unknown[][]): Promise<void> {
  await q.query(
    `INSERT INTO link_health (link_id, link_kind, path_id, state, reasons, vals, evaluated_at, evaluated_by)
       SELECT l, k, p, st, r, v, now(), b
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[])
           AS t(l, k, p, st, r, v, b)
       ON CONFLICT (link_id) DO UPDATE SET path_id = EXCLUDED.path_id, reasons = EXCLUDED.reasons,
         vals = EXCLUDED.vals, evaluated_at = now(), evaluated_by = EXCLUDED.evaluated_by`,
    columns,
  );
}

/**
 * Writes a changed verdict (a new `since`); `row` holds the seven values in the order of
 * `refreshLinkHealth`'s columns.
 */
export async function writeLinkHealthTransition(m: Queryable, row: unknown[]): Promise<void> {
  await m.query(
    `INSERT INTO link_health (link_id, link_kind, path_id, state, reasons, vals, since, evaluated_at, evaluated_by)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now(), $7)
         ON CONFLICT (link_id) DO UPDATE SET path_id = $3, state = $4, reasons = $5, vals = $6, since = now(),
           evaluated_at = now(), evaluated_by = $7`,
    row,
  );
}
