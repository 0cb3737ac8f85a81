import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { DomainException } from '../common/errors/domain.exception';
import { decodeCursor, defaultPageSize, encodeCursor, type Page } from '../common/http/pagination';
import { scheduleEvery } from '../common/scheduling/schedule';
import { AppConfig } from '../config/config.module';
import { checkpointSignature } from './audit-chain';
import { verifyChain, type VerifyResult } from './audit-verifier';
import { CheckpointSink, sinkFromEnv } from './checkpoint-sink';
import type { AuditExportQueryDto, AuditQueryDto, AuditVerifyQueryDto } from './audit.dto';
import { genesisHash, type AuditEventView, type AuditPayload, type AuditRow } from './audit.types';

const columns = `seq, occurred_at, actor_kind, actor_id, actor_name, action, resource_type,
  resource_id, resource_name, site_ids, cluster_ids, request_id, payload, prev_hash, hash`;

export function eventView(row: AuditRow): AuditEventView {
  return { ...(JSON.parse(row.payload) as AuditPayload), hash: row.hash, prevHash: row.prev_hash };
}

export interface AuditHead {
  seq: string;
  hash: string;
  checkpoint: { seq: string; hash: string; signature: string; createdAt: string } | null;
}

const csvColumns = [
  'seq',
  'occurredAt',
  'actor',
  'action',
  'resourceType',
  'resourceId',
  'resourceName',
  'requestId',
  'reason',
  'diff',
  'hash',
];

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  // Quote everything; neutralise spreadsheet formulas.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return `"${safe.replace(/"/g, '""')}"`;
}

@Injectable()
export class AuditQueryService implements OnModuleInit {
  private readonly logger = new Logger('AuditHead');
  private readonly key: string;
  private readonly checkpointIntervalMs: number;
  private readonly sink: CheckpointSink;
  /** The newest checkpoint this instance has put into the external sink. */
  private sunkSeq: string | undefined;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    env: AppConfig,
    private readonly scheduler: SchedulerRegistry,
  ) {
    this.key = env.CROSSDOCK_AUDIT_HMAC_KEY;
    this.checkpointIntervalMs = env.AUDIT_CHECKPOINT_INTERVAL_MS;
    this.sink = new CheckpointSink(sinkFromEnv(env), this.key);
  }

  /**
   * A time window as a seq window (occurred_at never decreases along seq): two index probes,
   * then the main query walks only that part of the primary key. null = nothing in the window.
   */
  private async seqRange(from?: Date, to?: Date): Promise<{ lo: string; hi: string } | null> {
    const [r] = (await this.ds.query(
      `SELECT
         (SELECT seq FROM audit_events WHERE occurred_at >= $1 ORDER BY occurred_at, seq LIMIT 1) AS lo,
         (SELECT seq FROM audit_events WHERE occurred_at < $2 ORDER BY occurred_at DESC, seq DESC LIMIT 1) AS hi`,
      [from ?? '-infinity', to ?? 'infinity'],
    )) as { lo: string | null; hi: string | null }[];
    return r.lo === null || r.hi === null || BigInt(r.lo) > BigInt(r.hi)
      ? null
      : { lo: r.lo, hi: r.hi };
  }

  async list(q: AuditQueryDto): Promise<Page<AuditEventView>> {
    const range = q.from || q.to ? await this.seqRange(q.from, q.to) : undefined;
    if (range === null) return { items: [], nextCursor: null };
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (q.cursor) add('seq < ?', decodeCursor(q.cursor));
    if (q.resourceType) add('resource_type = ?', q.resourceType);
    if (q.resourceId) add('resource_id = ?', q.resourceId);
    if (q.siteId) add('site_ids @> ARRAY[?]::uuid[]', q.siteId);
    if (q.clusterId) add('cluster_ids @> ARRAY[?]::uuid[]', q.clusterId);
    if (q.actor) add('actor_name = ?', q.actor);
    if (q.action) add('action = ?', q.action);
    if (range) {
      add('seq >= ?', range.lo);
      add('seq <= ?', range.hi);
    }
    if (q.requestId) add('request_id = ?', q.requestId);
    if (q.clientRequestId) add(`(payload::jsonb ->> 'clientRequestId') = ?`, q.clientRequestId);
    const limit = q.limit ?? defaultPageSize;
    params.push(limit + 1);
    const rows = (await this.ds.query(
      `SELECT ${columns} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    )) as AuditRow[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return {
      items: page.map(eventView),
      nextCursor: more ? encodeCursor(page[page.length - 1].seq) : null,
    };
  }

  async get(seq: string): Promise<AuditEventView> {
    if (!/^\d{1,19}$/.test(seq)) throw DomainException.notFound('audit event', seq.slice(0, 40));
    const [row] = (await this.ds.query(`SELECT ${columns} FROM audit_events WHERE seq = $1`, [
      seq,
    ])) as AuditRow[];
    if (!row) throw DomainException.notFound('audit event', seq);
    return eventView(row);
  }

  /** Streams a time range in seq order, batch by batch, honouring back-pressure: flat memory. */
  async export(q: AuditExportQueryDto, res: Response): Promise<void> {
    const format = q.format ?? 'ndjson';
    res.status(200);
    res.setHeader(
      'Content-Type',
      format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
    );
    res.setHeader(
      'Content-Disposition',
      `attachment; filename="audit.${format === 'csv' ? 'csv' : 'ndjson'}"`,
    );
    // A client that goes away never drains: resolve on close too, or the handler waits forever.
    const write = (chunk: string) =>
      res.write(chunk)
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.once('drain', done);
            res.once('close', done);
          });
    if (format === 'csv') await write(`${csvColumns.join(',')}\n`);
    const range = q.from || q.to ? await this.seqRange(q.from, q.to) : undefined;
    let after = range ? (BigInt(range.lo) - 1n).toString() : '0';
    for (;;) {
      if (range === null) break;
      const rows = (await this.ds.query(
        `SELECT ${columns} FROM audit_events WHERE seq > $1 AND ($2::bigint IS NULL OR seq <= $2) ORDER BY seq LIMIT 1000`,
        [after, range?.hi ?? null],
      )) as AuditRow[];
      if (rows.length === 0 || res.destroyed) break;
      let chunk = '';
      for (const row of rows) {
        const e = eventView(row);
        chunk +=
          format === 'csv'
            ? `${[e.seq, e.occurredAt, e.actor.name, e.action, e.resource.type, e.resource.id, e.resource.name, e.requestId, e.reason, e.diff, e.hash].map(csvCell).join(',')}\n`
            : `${JSON.stringify(e)}\n`;
      }
      await write(chunk);
      after = rows[rows.length - 1].seq;
    }
    res.end();
  }

  async verify(q: AuditVerifyQueryDto): Promise<VerifyResult> {
    if ((q.anchorSeq === undefined) !== (q.anchorHash === undefined)) {
      throw DomainException.validation([
        { field: 'query.anchorSeq', message: 'anchorSeq and anchorHash go together' },
      ]);
    }
    return verifyChain(
      this.ds,
      this.key,
      q.anchorSeq ? { seq: q.anchorSeq, hash: q.anchorHash as string } : undefined,
      await this.sink.read(),
    );
  }

  async head(): Promise<AuditHead> {
    const [row] = (await this.ds.query(
      `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`,
    )) as {
      seq: string;
      hash: string;
    }[];
    const [cp] = (await this.ds.query(
      `SELECT seq, hash, signature, created_at FROM audit_checkpoints WHERE kind = 'head' ORDER BY seq DESC, id DESC LIMIT 1`,
    )) as { seq: string; hash: string; signature: string; created_at: Date }[];
    return {
      seq: row?.seq ?? '0',
      hash: row?.hash ?? genesisHash,
      checkpoint: cp
        ? {
            seq: cp.seq,
            hash: cp.hash,
            signature: cp.signature,
            createdAt: cp.created_at.toISOString(),
          }
        : null,
    };
  }

  /** Writes a signed checkpoint of the current head and logs it for external anchoring. */
  async checkpoint(): Promise<AuditHead> {
    const head = await this.head();
    if (head.seq !== '0' && head.seq !== head.checkpoint?.seq) {
      await this.ds.query(
        `INSERT INTO audit_checkpoints (kind, seq, hash, signature) VALUES ('head', $1, $2, $3)`,
        [head.seq, head.hash, checkpointSignature(this.key, 'head', head.seq, head.hash)],
      );
      this.logger.log({ auditHead: { seq: head.seq, hash: head.hash } }, 'audit head checkpoint');
    }
    const now = await this.head();
    await this.sinkCheckpoint(now.checkpoint);
    return now;
  }

  /**
   * Copies the newest signed checkpoint to the external sink (once per checkpoint per
   * instance). A failed write is logged and retried with the next checkpoint; it never blocks
   * the audit trail itself.
   */
  private async sinkCheckpoint(cp: AuditHead['checkpoint']): Promise<void> {
    if (!this.sink.configured || !cp || cp.seq === this.sunkSeq) return;
    try {
      await this.sink.append({
        kind: 'head',
        seq: cp.seq,
        hash: cp.hash,
        signature: cp.signature,
        at: cp.createdAt,
      });
      this.sunkSeq = cp.seq;
    } catch (err) {
      this.logger.error({ err }, 'audit checkpoint not written to the external sink');
    }
  }

  onModuleInit(): void {
    if (this.checkpointIntervalMs > 0) {
      scheduleEvery(this.scheduler, 'audit-head-checkpoint', this.checkpointIntervalMs, () =>
        this.scheduledCheckpoint(),
      );
    }
  }

  async scheduledCheckpoint(): Promise<void> {
    try {
      await this.checkpoint();
    } catch (err) {
      this.logger.warn({ err }, 'audit head checkpoint skipped');
    }
  }
}
