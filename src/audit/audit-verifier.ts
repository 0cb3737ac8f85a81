import type { DataSource } from 'typeorm';
import { chainHash, checkpointSignature, rowInconsistency } from './audit-chain';
import { genesisHash, type AuditRow } from './audit.types';

export interface VerifyResult {
  ok: boolean;
  checkedEvents: number;
  firstSeq: string | null;
  lastSeq: string | null;
  headHash: string;
  /** The first link that does not hold. */
  broken?: { seq: string; reason: string };
  /** Events missing at the end compared with an anchored head. */
  truncated?: { anchoredSeq: string; lastSeq: string | null; source: 'checkpoint' | 'external' };
  checkpointsChecked: number;
}

interface Checkpoint {
  kind: string;
  seq: string;
  hash: string;
  signature: string;
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
): Promise<VerifyResult> {
  const checkpoints = (await ds.query(
    `SELECT kind, seq, hash, signature FROM audit_checkpoints ORDER BY seq, id`,
  )) as Checkpoint[];
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

  for (;;) {
    const rows = (await ds.query(
      `SELECT seq, occurred_at, actor_kind, actor_id, actor_name, action, resource_type, resource_id,
              resource_name, site_ids, cluster_ids, request_id, payload, prev_hash, hash
       FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 2000`,
      [prevSeq.toString()],
    )) as AuditRow[];
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
