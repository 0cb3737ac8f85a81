import type { Actor } from '../common/actor/actor';
import type { FieldChange } from './field-diff';

/** What a caller records; actor, request id and reason come from the request context. */
export interface AuditInput {
  action: string;
  resourceType: string;
  resourceId?: string;
  resourceName?: string;
  siteIds?: string[];
  clusterIds?: string[];
  before?: unknown;
  after?: unknown;
  /** Broker operations: the operation, its outcome, the broker's error. */
  details?: unknown;
  /** Background work names itself; requests take the authenticated token. */
  actor?: Actor;
}

/** The hashed document: exactly what `payload` holds, in canonical JSON. */
export interface AuditPayload {
  seq: string;
  occurredAt: string;
  actor: Actor;
  action: string;
  resource: { type: string; id: string | null; name: string | null };
  siteIds: string[];
  clusterIds: string[];
  requestId: string | null;
  /** The caller's X-Request-Id, when one was sent (absent otherwise). */
  clientRequestId?: string;
  reason: string | null;
  before: unknown;
  after: unknown;
  diff: FieldChange[];
  details: unknown;
}

export interface AuditEventView extends AuditPayload {
  hash: string;
  prevHash: string;
}

export interface AuditRow {
  seq: string;
  occurred_at: Date;
  actor_kind: string;
  actor_id: string | null;
  actor_name: string;
  action: string;
  resource_type: string;
  resource_id: string | null;
  resource_name: string | null;
  site_ids: string[];
  cluster_ids: string[];
  request_id: string | null;
  payload: string;
  prev_hash: string;
  hash: string;
}

export const genesisHash = '0'.repeat(64);
/** pg_advisory_xact_lock key that serialises appends to the chain. */
export const auditChainLockKey = 0x63726f73; // 'cros'
