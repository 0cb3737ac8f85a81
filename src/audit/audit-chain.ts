import { createHmac } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import type { AuditPayload, AuditRow } from './audit.types';

export function chainHash(key: string, prevHash: string, payload: string): string {
  return createHmac('sha256', key).update(`${prevHash}\n${payload}`).digest('hex');
}

export function checkpointSignature(key: string, kind: string, seq: string, hash: string): string {
  return createHmac('sha256', key).update(`checkpoint\n${kind}\n${seq}\n${hash}`).digest('hex');
}

/** Why a stored row does not match its own payload (the indexed copies were edited), if it does not. */
export function rowInconsistency(row: AuditRow): string | undefined {
  let p: AuditPayload;
  try {
    p = JSON.parse(row.payload) as AuditPayload;
  } catch {
    return 'payload is not JSON';
  }
  if (canonicalJson(p) !== row.payload) return 'payload is not in canonical form';
  const actorId = p.actor.kind === 'token' ? p.actor.tokenId : null;
  const checks: [string, unknown, unknown][] = [
    ['seq', p.seq, String(row.seq)],
    ['occurredAt', p.occurredAt, new Date(row.occurred_at).toISOString()],
    ['actor kind', p.actor.kind, row.actor_kind],
    ['actor id', actorId, row.actor_id],
    ['actor name', p.actor.name, row.actor_name],
    ['action', p.action, row.action],
    ['resource type', p.resource.type, row.resource_type],
    ['resource id', p.resource.id, row.resource_id],
    ['resource name', p.resource.name, row.resource_name],
    ['site ids', canonicalJson(p.siteIds), canonicalJson(row.site_ids)],
    ['cluster ids', canonicalJson(p.clusterIds), canonicalJson(row.cluster_ids)],
    ['request id', p.requestId, row.request_id],
  ];
  const bad = checks.find(([, a, b]) => a !== b);
  return bad ? `${bad[0]} column differs from the hashed payload` : undefined;
}
