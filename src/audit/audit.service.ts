import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { Actor } from '../common/actor/actor';
import { requestContext } from '../common/context/request-context';
import { redactDeep } from '../common/logging/redact';
import { AppConfig } from '../config/config.module';
import { chainHash } from './audit-chain';
import { canonicalJson } from './canonical-json';
import { auditChainLockKey, genesisHash, type AuditInput, type AuditPayload } from './audit.types';
import { compactDiff } from './field-diff';
import {
  chainHead,
  insertAuditEvents,
  latestPruneCheckpoint,
  lockAuditChain,
} from './audit.repository';

export const systemActor = (name: string): Actor => ({ kind: 'system', name });

const insertRowsPerStatement = 1000;

/**
 * Appends events to the hash chain inside the caller's transaction: the event commits with the
 * change or not at all. The transaction-scoped advisory lock serialises appends until COMMIT,
 * so concurrent writers cannot both extend the same head (no fork).
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger(AuditService.name);
  private readonly key: string;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    env: AppConfig,
  ) {
    this.key = env.CROSSDOCK_AUDIT_HMAC_KEY;
  }

  async record(m: EntityManager, input: AuditInput): Promise<{ seq: string; hash: string }> {
    const [one] = await this.recordMany(m, [input]);
    return one;
  }

  /**
   * Appends several events in order, in the caller's transaction, as one chain segment: one
   * head read and one multi-row insert however many there are (each event is hashed on the
   * previous one exactly as `record` would, so verification cannot tell the difference).
   */
  async recordMany(
    m: EntityManager,
    inputs: readonly AuditInput[],
  ): Promise<{ seq: string; hash: string }[]> {
    if (!m.queryRunner?.isTransactionActive) {
      throw new Error('audit events must be recorded inside the transaction of the change');
    }
    if (inputs.length === 0) return [];
    const ctx = requestContext.current();
    await lockAuditChain(m, auditChainLockKey);
    const head = await chainHead(m);
    let prev: { seq: string; hash: string } = head ?? (await this.pruneAnchor(m));
    // Time never goes backwards along the chain (a clock step, skew between replicas), so a time
    // range is exactly a seq range for queries.
    const now = new Date();
    const occurredAt = head && head.occurred_at > now ? head.occurred_at : now;
    const rows: unknown[][] = [];
    const out: { seq: string; hash: string }[] = [];
    for (const input of inputs) {
      const actor = input.actor ?? ctx?.actor ?? systemActor('crossdock');
      const seq = (BigInt(prev.seq) + 1n).toString();
      const before = input.before === undefined ? null : redactDeep(input.before);
      const after = input.after === undefined ? null : redactDeep(input.after);
      const payloadDoc: AuditPayload = {
        seq,
        occurredAt: occurredAt.toISOString(),
        actor,
        action: input.action,
        resource: {
          type: input.resourceType,
          id: input.resourceId ?? null,
          name: input.resourceName ?? null,
        },
        siteIds: [...new Set(input.siteIds ?? [])].sort(),
        clusterIds: [...new Set(input.clusterIds ?? [])].sort(),
        requestId: ctx?.requestId ?? null,
        // Only when given, so events without one keep the payload shape they always had.
        ...(ctx?.clientRequestId ? { clientRequestId: ctx.clientRequestId } : {}),
        reason: ctx?.reason ?? null,
        before,
        after,
        diff: compactDiff(before ?? undefined, after ?? undefined),
        details: input.details === undefined ? null : redactDeep(input.details),
      };
      const payload = canonicalJson(payloadDoc);
      const hash = chainHash(this.key, prev.hash, payload);
      rows.push([
        seq,
        occurredAt,
        actor.kind,
        actor.kind === 'token' ? actor.tokenId : null,
        actor.name,
        payloadDoc.action,
        payloadDoc.resource.type,
        payloadDoc.resource.id,
        payloadDoc.resource.name,
        payloadDoc.siteIds,
        payloadDoc.clusterIds,
        payloadDoc.requestId,
        payload,
        prev.hash,
        hash,
      ]);
      out.push({ seq, hash });
      prev = { seq, hash };
    }
    // Bounded statements: 15 parameters a row, well under Postgres' 65,535.
    for (let i = 0; i < rows.length; i += insertRowsPerStatement) {
      const chunk = rows.slice(i, i + insertRowsPerStatement);
      await insertAuditEvents(m, chunk);
    }
    return out;
  }

  /** For events that are not part of a registry change (broker operations, health transitions). */
  recordStandalone(input: AuditInput): Promise<{ seq: string; hash: string }> {
    return this.ds.transaction((m) => this.record(m, input));
  }

  /**
   * Records a broker call as intent + outcome around it: broker calls happen outside any
   * database transaction, so the trail shows what was attempted even if the outcome is lost.
   */
  async aroundBrokerCall<T>(input: AuditInput, call: () => Promise<T>): Promise<T> {
    const intent = await this.recordStandalone({ ...input, action: `${input.action}.intent` });
    try {
      const result = await call();
      await this.recordStandalone({
        ...input,
        action: `${input.action}.succeeded`,
        details: { intentSeq: intent.seq, ...(input.details as object) },
      });
      return result;
    } catch (err) {
      await this.recordStandalone({
        ...input,
        action: `${input.action}.failed`,
        details: {
          intentSeq: intent.seq,
          ...(input.details as object),
          error: err instanceof Error ? { type: err.name, message: err.message } : 'unknown error',
        },
      }).catch((e: unknown) =>
        this.logger.error({ err: e }, 'could not record broker call outcome'),
      );
      throw err;
    }
  }

  /** After a prune, the chain continues from the signed prune checkpoint. */
  private async pruneAnchor(m: EntityManager): Promise<{ seq: string; hash: string }> {
    const cp = await latestPruneCheckpoint(m);
    return cp ?? { seq: '0', hash: genesisHash };
  }
}
