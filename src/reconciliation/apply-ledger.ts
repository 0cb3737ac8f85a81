import type { EntityManager } from 'typeorm';
import type { SentOp } from './apply';
import type { PlanOp } from './broker-state';
import { isAccessKind } from '../broker-topology/object-kinds';

/**
 * The ownership ledger's side of an apply, a batch of ops per statement (inside the caller's
 * transaction, beside the batch's audit events).
 */

/**
 * Before a batch is sent: one unconfirmed row per create (ledger first: a crash after the broker
 * write never leaves an object crossdock does not own; unconfirmed until the broker accepts it,
 * so a one-shot object that never got there does not count as completed).
 */
export async function claimCreates(
  m: EntityManager,
  clusterId: string,
  ops: readonly PlanOp[],
): Promise<void> {
  // Access objects (vhost, users, permissions) are crossdock's own by name: no ledger rows.
  const creates = ops.filter((op) => op.op === 'create' && !isAccessKind(op.key.kind));
  if (creates.length === 0) return;
  await m.query(
    `INSERT INTO managed_objects (cluster_id, kind, vhost, name, owner, confirmed)
     SELECT $1::uuid, k, v, n, o, false FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS x(k, v, n, o)
     ON CONFLICT (cluster_id, kind, vhost, name) DO UPDATE SET owner = EXCLUDED.owner, confirmed = false, ensure_only = NULL`,
    [
      clusterId,
      creates.map((op) => op.key.kind),
      creates.map((op) => op.key.vhost),
      creates.map((op) => op.key.name),
      creates.map((op) => op.owner),
    ],
  );
}

/** After the broker answered: deleted objects leave the ledger, written ones are confirmed. */
export async function settleOutcomes(
  m: EntityManager,
  clusterId: string,
  done: readonly SentOp[],
): Promise<void> {
  const ok = done.filter((d) => d.outcome.ok && !isAccessKind(d.op.key.kind));
  const keys = (xs: SentOp[]) => [
    clusterId,
    xs.map((d) => d.op.key.kind),
    xs.map((d) => d.op.key.vhost),
    xs.map((d) => d.op.key.name),
  ];
  const deleted = ok.filter((d) => d.op.op === 'delete');
  const written = ok.filter((d) => d.op.op !== 'delete');
  if (deleted.length)
    await m.query(
      `DELETE FROM managed_objects o USING unnest($2::text[], $3::text[], $4::text[]) AS x(k, v, n)
        WHERE o.cluster_id = $1 AND o.kind = x.k AND o.vhost = x.v AND o.name = x.n`,
      keys(deleted),
    );
  if (written.length)
    await m.query(
      `UPDATE managed_objects o SET confirmed = true FROM unnest($2::text[], $3::text[], $4::text[]) AS x(k, v, n)
        WHERE o.cluster_id = $1 AND o.kind = x.k AND o.vhost = x.v AND o.name = x.n AND NOT o.confirmed`,
      keys(written),
    );
}
