import type { Queryable } from '../database/queryable';
import type { AuditRow } from './audit.types';

/** The SQL of the audit trail: the chain of events and its signed checkpoints. */

const columns = `seq, occurred_at, actor_kind, actor_id, actor_name, action, resource_type,
  resource_id, resource_name, site_ids, cluster_ids, request_id, payload, prev_hash, hash`;

export interface ChainHeadRow {
  seq: string;
  hash: string;
  occurred_at: Date;
}

export interface ChainLinkRow {
  seq: string;
  hash: string;
}

export interface HeadCheckpointRow {
  seq: string;
  hash: string;
  signature: string;
  created_at: Date;
}

export interface CheckpointRow {
  kind: string;
  seq: string;
  hash: string;
  signature: string;
}

export interface ProtectionRow {
  table: string;
  armed: number;
  can_modify: boolean;
}

/** The filters of an event listing; every one optional. */
export interface AuditEventFilter {
  /** Events strictly below this seq (the page cursor). */
  beforeSeq?: string;
  resourceType?: string;
  resourceId?: string;
  siteId?: string;
  clusterId?: string;
  actor?: string;
  action?: string;
  seqRange?: { lo: string; hi: string };
  requestId?: string;
  clientRequestId?: string;
}

/** Serialises appends to the chain until the transaction ends. */
export async function lockAuditChain(m: Queryable, key: number): Promise<void> {
  await m.query('SELECT pg_advisory_xact_lock($1)', [key]);
}

export async function chainHead(m: Queryable): Promise<ChainHeadRow | undefined> {
  const [head] = await m.query<ChainHeadRow[]>(
    `SELECT seq, hash, occurred_at FROM audit_events ORDER BY seq DESC LIMIT 1`,
  );
  return head;
}

/** The newest prune checkpoint: where the chain continues after a prune. */
export async function latestPruneCheckpoint(m: Queryable): Promise<ChainLinkRow | undefined> {
  const [cp] = await m.query<ChainLinkRow[]>(
    `SELECT seq, hash FROM audit_checkpoints WHERE kind = 'prune' ORDER BY seq DESC LIMIT 1`,
  );
  return cp;
}

/** Inserts events given as rows of the 15 columns, in order, as one statement. */
export async function insertAuditEvents(m: Queryable, chunk: unknown[][]): Promise<void> {
  await m.query(
    `INSERT INTO audit_events (seq, occurred_at, actor_kind, actor_id, actor_name, action, resource_type,
           resource_id, resource_name, site_ids, cluster_ids, request_id, payload, prev_hash, hash)
         VALUES ${chunk.map((_, r) => `(${Array.from({ length: 15 }, (_, c) => `$${r * 15 + c + 1}`).join(', ')})`).join(', ')}`,
    chunk.flat(),
  );
}

/** The first and last seq of a time window (either may be null). */
export async function seqBounds(
  q: Queryable,
  from?: Date,
  to?: Date,
): Promise<{ lo: string | null; hi: string | null }> {
  const [r] = await q.query<{ lo: string | null; hi: string | null }[]>(
    `SELECT
         (SELECT seq FROM audit_events WHERE occurred_at >= $1 ORDER BY occurred_at, seq LIMIT 1) AS lo,
         (SELECT seq FROM audit_events WHERE occurred_at < $2 ORDER BY occurred_at DESC, seq DESC LIMIT 1) AS hi`,
    [from ?? '-infinity', to ?? 'infinity'],
  );
  return r;
}

/** Newest first, at most `limit` rows. */
export function listAuditEvents(
  q: Queryable,
  f: AuditEventFilter,
  limit: number,
): Promise<AuditRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (f.beforeSeq) add('seq < ?', f.beforeSeq);
  if (f.resourceType) add('resource_type = ?', f.resourceType);
  if (f.resourceId) add('resource_id = ?', f.resourceId);
  if (f.siteId) add('site_ids @> ARRAY[?]::uuid[]', f.siteId);
  if (f.clusterId) add('cluster_ids @> ARRAY[?]::uuid[]', f.clusterId);
  if (f.actor) add('actor_name = ?', f.actor);
  if (f.action) add('action = ?', f.action);
  if (f.seqRange) {
    add('seq >= ?', f.seqRange.lo);
    add('seq <= ?', f.seqRange.hi);
  }
  if (f.requestId) add('request_id = ?', f.requestId);
  if (f.clientRequestId) add(`(payload::jsonb ->> 'clientRequestId') = ?`, f.clientRequestId);
  params.push(limit);
  return q.query<AuditRow[]>(
    `SELECT ${columns} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq DESC LIMIT $${params.length}`,
    params,
  );
}

export async function auditEventBySeq(q: Queryable, seq: string): Promise<AuditRow | undefined> {
  const [row] = await q.query<AuditRow[]>(`SELECT ${columns} FROM audit_events WHERE seq = $1`, [
    seq,
  ]);
  return row;
}

/** Up to 1000 events after `after`, up to `hi` when given, in seq order. */
export function exportBatch(q: Queryable, after: string, hi: string | null): Promise<AuditRow[]> {
  return q.query<AuditRow[]>(
    `SELECT ${columns} FROM audit_events WHERE seq > $1 AND ($2::bigint IS NULL OR seq <= $2) ORDER BY seq LIMIT 1000`,
    [after, hi],
  );
}

export async function latestEventLink(q: Queryable): Promise<ChainLinkRow | undefined> {
  const [row] = await q.query<ChainLinkRow[]>(
    `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`,
  );
  return row;
}

export async function latestHeadCheckpoint(q: Queryable): Promise<HeadCheckpointRow | undefined> {
  const [cp] = await q.query<HeadCheckpointRow[]>(
    `SELECT seq, hash, signature, created_at FROM audit_checkpoints WHERE kind = 'head' ORDER BY seq DESC, id DESC LIMIT 1`,
  );
  return cp;
}

export async function insertHeadCheckpoint(
  q: Queryable,
  seq: string,
  hash: string,
  signature: string,
): Promise<void> {
  await q.query(
    `INSERT INTO audit_checkpoints (kind, seq, hash, signature) VALUES ('head', $1, $2, $3)`,
    [seq, hash, signature],
  );
}

/** Trigger status and the current role's rights on both audit tables. */
export function protectionRows(q: Queryable): Promise<ProtectionRow[]> {
  return q.query<ProtectionRow[]>(
    `SELECT c.relname AS table,
            (SELECT count(*) FROM pg_trigger t
              WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled = 'O'
                AND t.tgname IN ('tr_' || c.relname || '_no_change', 'tr_' || c.relname || '_no_truncate'))::int AS armed,
            pg_has_role(current_user, c.relowner, 'USAGE')
              OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
              OR has_table_privilege(c.oid, 'UPDATE') OR has_table_privilege(c.oid, 'DELETE')
              OR has_table_privilege(c.oid, 'TRUNCATE') AS can_modify
       FROM pg_class c
      WHERE c.relname IN ('audit_events', 'audit_checkpoints') AND c.relkind = 'r'
        AND c.relnamespace = current_schema()::regnamespace`,
  );
}

export function allCheckpoints(q: Queryable): Promise<CheckpointRow[]> {
  return q.query<CheckpointRow[]>(
    `SELECT kind, seq, hash, signature FROM audit_checkpoints ORDER BY seq, id`,
  );
}

/** Up to 2000 events after `after`, in seq order. */
export function verifyBatch(q: Queryable, after: string): Promise<AuditRow[]> {
  return q.query<AuditRow[]>(
    `SELECT seq, occurred_at, actor_kind, actor_id, actor_name, action, resource_type, resource_id,
              resource_name, site_ids, cluster_ids, request_id, payload, prev_hash, hash
       FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 2000`,
    [after],
  );
}

/** The last seq of the prunable prefix: events before `before`, none newer before them. */
export async function lastPrunableSeq(m: Queryable, before: Date): Promise<string | null> {
  const [last] = await m.query<{ seq: string | null }[]>(
    `SELECT max(seq) AS seq FROM audit_events e
       WHERE occurred_at < $1 AND NOT EXISTS (
         SELECT 1 FROM audit_events newer WHERE newer.seq < e.seq AND newer.occurred_at >= $1)`,
    [before],
  );
  return last?.seq ?? null;
}

/** Up to 1000 whole events in (after, through], in seq order. */
export function pruneBatch(m: Queryable, after: string, through: string): Promise<AuditRow[]> {
  return m.query<AuditRow[]>(
    `SELECT * FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 1000`,
    [after, through],
  );
}

/**
 * Deletes the events through `seq` with the append-only trigger disabled for this transaction's
 * statements only (run as the owner of the audit tables, inside a transaction).
 */
export async function deleteEventsThrough(m: Queryable, seq: string): Promise<void> {
  await m.query(`ALTER TABLE audit_events DISABLE TRIGGER tr_audit_events_no_change`);
  await m.query(`DELETE FROM audit_events WHERE seq <= $1`, [seq]);
  await m.query(`ALTER TABLE audit_events ENABLE TRIGGER tr_audit_events_no_change`);
}

export async function insertPruneCheckpoint(
  m: Queryable,
  seq: string,
  hash: string,
  signature: string,
  note: string,
): Promise<void> {
  await m.query(
    `INSERT INTO audit_checkpoints (kind, seq, hash, signature, note) VALUES ('prune', $1, $2, $3, $4)`,
    [seq, hash, signature, note],
  );
}
