import 'reflect-metadata';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions, databaseSettingsFromEnv } from '../database/data-source-options';
import { checkpointSignature } from './audit-chain';
import { auditChainLockKey, type AuditRow } from './audit.types';
import { CheckpointSink, sinkFromEnv } from './checkpoint-sink';
import {
  deleteEventsThrough,
  insertPruneCheckpoint,
  lastPrunableSeq,
  lockAuditChain,
  pruneBatch,
} from './audit.repository';

export interface PruneResult {
  archived: number;
  prunedThroughSeq: string | null;
  archive: string;
}

/**
 * Retention: archives and deletes the oldest events (a prefix of the chain, all older than
 * `before`), then writes a signed `prune` checkpoint at the last deleted event so the remaining
 * chain still verifies from there (and appends it to the external sink when one is given). Runs
 * as the owner of the audit tables (DATABASE_MIGRATION_URL): the append-only triggers are
 * disabled inside the transaction only, so no other session ever sees them off. The archive is
 * written and flushed before anything is deleted.
 */
export async function pruneAuditEvents(
  ds: DataSource,
  key: string,
  before: Date,
  archivePath: string,
  sink?: CheckpointSink,
): Promise<PruneResult> {
  const result = await ds.transaction(async (m) => {
    await lockAuditChain(m, auditChainLockKey);
    const lastSeq = await lastPrunableSeq(m, before);
    if (!lastSeq) return { archived: 0, prunedThroughSeq: null, archive: archivePath };
    const out = createWriteStream(archivePath, { flags: 'wx', mode: 0o600 });
    let archived = 0;
    let after = '0';
    let tail: AuditRow | undefined;
    for (;;) {
      const rows = await pruneBatch(m, after, lastSeq);
      if (rows.length === 0) break;
      for (const r of rows) {
        const line = JSON.stringify({
          seq: r.seq,
          payload: r.payload,
          prevHash: r.prev_hash,
          hash: r.hash,
        });
        if (!out.write(`${line}\n`)) await once(out, 'drain');
      }
      archived += rows.length;
      tail = rows[rows.length - 1];
      after = tail.seq;
    }
    out.end();
    await once(out, 'finish');
    if (!tail) return { archived: 0, prunedThroughSeq: null, archive: archivePath };
    await deleteEventsThrough(m, tail.seq);
    await insertPruneCheckpoint(
      m,
      tail.seq,
      tail.hash,
      checkpointSignature(key, 'prune', tail.seq, tail.hash),
      `archived ${archived} events`,
    );
    return { archived, prunedThroughSeq: tail.seq, archive: archivePath, hash: tail.hash };
  });
  const { hash, ...out } = result as PruneResult & { hash?: string };
  if (sink?.configured && out.prunedThroughSeq && hash) {
    await sink.append({
      kind: 'prune',
      seq: out.prunedThroughSeq,
      hash,
      signature: checkpointSignature(key, 'prune', out.prunedThroughSeq, hash),
      at: new Date().toISOString(),
    });
  }
  return out;
}

function usage(): never {
  console.error('usage: audit-maintenance prune --before <ISO date> --archive <file.ndjson>');
  process.exit(2);
}

if (require.main === module) {
  const [command, ...rest] = process.argv.slice(2);
  const arg = (name: string) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const before = arg('before');
  const archive = arg('archive');
  const key = process.env.CROSSDOCK_AUDIT_HMAC_KEY;
  if (command !== 'prune' || !before || !archive || Number.isNaN(Date.parse(before))) usage();
  const url = process.env.DATABASE_MIGRATION_URL || process.env.DATABASE_URL;
  if (!key || !url) {
    console.error(
      'audit-maintenance: DATABASE_MIGRATION_URL (the owner role) and CROSSDOCK_AUDIT_HMAC_KEY must be set',
    );
    process.exit(2);
  }
  const ds = new DataSource(
    buildDataSourceOptions({
      ...databaseSettingsFromEnv({ ...process.env, DATABASE_URL: url }),
      statementTimeoutMs: 600000,
    }),
  );
  const sink = new CheckpointSink(sinkFromEnv(process.env), key);
  ds.initialize()
    .then(() => pruneAuditEvents(ds, key, new Date(before), archive, sink))
    .then((r) => console.error(JSON.stringify({ msg: 'audit prune done', ...r })))
    .catch((err: unknown) => {
      console.error(
        `audit-maintenance: failed: ${err instanceof Error ? err.message : 'unknown error'}`,
      );
      process.exitCode = 1;
    })
    .finally(() => void ds.destroy());
}
