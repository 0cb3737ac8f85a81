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
import {
  auditEventBySeq,
  exportBatch,
  insertHeadCheckpoint,
  latestEventLink,
  latestHeadCheckpoint,
  listAuditEvents,
  seqBounds,
} from './audit.repository';

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
    const r = await seqBounds(this.ds, from, to);
    return r.lo === null || r.hi === null || BigInt(r.lo) > BigInt(r.hi)
      ? null
      : { lo: r.lo, hi: r.hi };
  }

  async list(q: AuditQueryDto): Promise<Page<AuditEventView>> {
    const range = q.from || q.to ? await this.seqRange(q.from, q.to) : undefined;
    if (range === null) return { items: [], nextCursor: null };
    const limit = q.limit ?? defaultPageSize;
    const rows = await listAuditEvents(
      this.ds,
      {
        beforeSeq: q.cursor ? decodeCursor(q.cursor) : undefined,
        resourceType: q.resourceType,
        resourceId: q.resourceId,
        siteId: q.siteId,
        clusterId: q.clusterId,
        actor: q.actor,
        action: q.action,
        seqRange: range,
        requestId: q.requestId,
        clientRequestId: q.clientRequestId,
      },
      limit + 1,
    );
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return {
      items: page.map(eventView),
      nextCursor: more ? encodeCursor(page[page.length - 1].seq) : null,
    };
  }

  async get(seq: string): Promise<AuditEventView> {
    if (!/^\d{1,19}$/.test(seq)) throw DomainException.notFound('audit event', seq.slice(0, 40));
    const row = await auditEventBySeq(this.ds, seq);
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
      const rows = await exportBatch(this.ds, after, range?.hi ?? null);
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
    const row = await latestEventLink(this.ds);
    const cp = await latestHeadCheckpoint(this.ds);
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
      await insertHeadCheckpoint(
        this.ds,
        head.seq,
        head.hash,
        checkpointSignature(this.key, 'head', head.seq, head.hash),
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
