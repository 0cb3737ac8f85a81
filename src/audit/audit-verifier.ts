import type { DataSource } from 'typeorm';
import { chainHash, checkpointSignature, rowInconsistency } from './audit-chain';
import { genesisHash } from './audit.types';
import type { SinkReading } from './checkpoint-sink';
import { allCheckpoints, protectionRows, verifyBatch } from './audit.repository';

/** Whether the database still enforces what the chain relies on. */
export interface AuditProtection {
  /** Both append-only triggers exist and are enabled on both audit tables. */
  triggersArmed: boolean;
  /**
   * The role verify runs as (the service's) could change or remove audit rows: it owns the
   * tables, is a member of their owner, is a superuser, or holds UPDATE/DELETE/TRUNCATE.
   */
  serviceRoleCanModify: boolean;
  /** The external checkpoint sink as read: not-configured, empty, ok or unreadable. */
  externalSink: SinkReading['status'];
  /** The newest correctly signed entry of the external sink. */
  externalHead?: { seq: string; hash: string; at: string };
}

export interface VerifyResult {
  ok: boolean;
  checkedEvents: number;
  firstSeq: string | null;
  lastSeq: string | null;
  headHash: string;
  /** The first link that does not hold. */
  broken?: { seq: string; reason: string };
  /** Events missing at the end compared with an anchored head. */
  truncated?: {
    anchoredSeq: string;
    lastSeq: string | null;
    source: 'checkpoint' | 'external' | 'external-sink';
  };
  checkpointsChecked: number;
  protection?: AuditProtection;
  /** What makes the result untrustworthy even when the chain holds (ok is then false). */
  problems?: string[];
  /** Weaker set-ups that verify cannot rule out tampering in (ok is not affected). */
  warnings?: string[];
}

/**
 * Reads the protection state: trigger status from pg_trigger and the current role's rights on
 * the audit tables. Cheap (two catalog queries).
 */
export async function readProtection(
  ds: DataSource,
  sink?: SinkReading,
): Promise<{ protection: AuditProtection; problems: string[]; warnings: string[] }> {
  const rows = await protectionRows(ds);
  const problems: string[] = [];
  const warnings: string[] = [];
  const unarmed = ['audit_events', 'audit_checkpoints'].filter(
    (t) => (rows.find((r) => r.table === t)?.armed ?? 0) !== 2,
  );
  if (unarmed.length) {
    problems.push(`append-only triggers are disabled or missing on ${unarmed.join(', ')}`);
  }
  const canModify = rows.some((r) => r.can_modify);
  if (canModify) {
    warnings.push(
      'the service role can modify or remove audit rows (it owns the audit tables or holds UPDATE/DELETE/TRUNCATE): run migrations as a separate owner role (DATABASE_MIGRATION_URL)',
    );
  }
  const status = sink?.status ?? 'not-configured';
  if (status === 'not-configured') {
    warnings.push(
      'no external checkpoint sink is configured (AUDIT_CHECKPOINT_FILE): a deleted tail is detected only against checkpoints in the database or an anchor you pass',
    );
  } else if (status === 'unreadable') {
    problems.push('the external checkpoint file cannot be read');
  } else if (status === 'empty') {
    warnings.push('the external checkpoint file holds no signed checkpoint yet');
  }
  if (sink?.badLines) {
    problems.push(
      `the external checkpoint file has ${sink.badLines} line(s) with an invalid signature`,
    );
  }
  const latest = sink?.latest;
  return {
    protection: {
      triggersArmed: unarmed.length === 0,
      serviceRoleCanModify: canModify,
      externalSink: status,
      ...(latest ? { externalHead: { seq: latest.seq, hash: latest.hash, at: latest.at } } : {}),
    },
    problems,
    warnings,
  };
}

/**
 * Walks the whole chain in seq order, in batches (constant memory): contiguous sequence, each
 * row's prev_hash equal to the previous hash, the HMAC recomputed over the stored canonical
 * payload, and the indexed columns equal to the payload. Then compares the tail with the
 * signed head checkpoints and an optional externally held anchor.
 */
export async function verifyChain(
  ds: DataSource,
  key: string,
  anchor?: { seq: string; hash: string },
  sink?: SinkReading,
): Promise<VerifyResult> {
  const checked = await verifyChainOnly(ds, key, anchor, sink?.latest);
  const { protection, problems, warnings } = await readProtection(ds, sink);
  return {
    ...checked,
    ok: checked.ok && problems.length === 0,
    protection,
    ...(problems.length ? { problems } : {}),
    ...(warnings.length ? { warnings } : {}),
  };
}

async function verifyChainOnly(
  ds: DataSource,
  key: string,
  anchor: { seq: string; hash: string } | undefined,
  sinkHead: { seq: string; hash: string } | undefined,
): Promise<VerifyResult> {
  const checkpoints = await allCheckpoints(ds);
  const forged = checkpoints.find(
    (c) => checkpointSignature(key, c.kind, c.seq, c.hash) !== c.signature,
  );
  const result: VerifyResult = {
    ok: true,
    checkedEvents: 0,
    firstSeq: null,
    lastSeq: null,
    headHash: genesisHash,
    checkpointsChecked: checkpoints.length,
  };
  if (forged) {
    return {
      ...result,
      ok: false,
      broken: {
        seq: forged.seq,
        reason: `checkpoint at seq ${forged.seq} has an invalid signature`,
      },
    };
  }
  const prune = checkpoints.filter((c) => c.kind === 'prune').pop();
  let prevSeq = BigInt(prune?.seq ?? '0');
  let prevHash = prune?.hash ?? genesisHash;
  const hashAt = new Map<string, string>();
  const wanted = new Set(checkpoints.filter((c) => c.kind === 'head').map((c) => c.seq));
  if (anchor) wanted.add(anchor.seq);
  if (sinkHead) wanted.add(sinkHead.seq);

  for (;;) {
    const rows = await verifyBatch(ds, prevSeq.toString());
    if (rows.length === 0) break;
    for (const row of rows) {
      const fail = (reason: string): VerifyResult => ({
        ...result,
        ok: false,
        lastSeq: prevSeq.toString(),
        headHash: prevHash,
        broken: { seq: row.seq, reason },
      });
      if (BigInt(row.seq) !== prevSeq + 1n)
        return fail(`events ${prevSeq + 1n}..${BigInt(row.seq) - 1n} are missing`);
      if (row.prev_hash !== prevHash) return fail('prev_hash does not match the previous event');
      if (chainHash(key, row.prev_hash, row.payload) !== row.hash)
        return fail('hash does not match the content');
      const inconsistent = rowInconsistency(row);
      if (inconsistent) return fail(inconsistent);
      result.checkedEvents += 1;
      result.firstSeq ??= row.seq;
      prevSeq = BigInt(row.seq);
      prevHash = row.hash;
      if (wanted.has(row.seq)) hashAt.set(row.seq, row.hash);
    }
  }
  result.lastSeq = result.checkedEvents ? prevSeq.toString() : (prune?.seq ?? null);
  result.headHash = prevHash;

  const anchors = [
    ...checkpoints
      .filter((c) => c.kind === 'head')
      .map((c) => ({ ...c, source: 'checkpoint' as const })),
    ...(anchor ? [{ ...anchor, source: 'external' as const }] : []),
    ...(sinkHead ? [{ ...sinkHead, source: 'external-sink' as const }] : []),
  ];
  for (const a of anchors) {
    if (BigInt(a.seq) > prevSeq) {
      return {
        ...result,
        ok: false,
        truncated: { anchoredSeq: a.seq, lastSeq: result.lastSeq, source: a.source },
      };
    }
    if (prune && BigInt(a.seq) <= BigInt(prune.seq)) continue;
    if (hashAt.get(a.seq) !== a.hash) {
      return {
        ...result,
        ok: false,
        broken: {
          seq: a.seq,
          reason: `the chain at seq ${a.seq} does not match the ${a.source} anchor`,
        },
      };
    }
  }
  return result;
}
