import type { EntityManager } from 'typeorm';
import type { SentOp } from './apply';
import type { PlanOp } from './broker-state';
import { isAccessKind } from '../broker-topology/object-kinds';
import {
  claimUnconfirmed,
  confirmBatch,
  deleteBatch,
  type LedgerKeyColumns,
} from './ledger.repository';

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
  await claimUnconfirmed(m, clusterId, {
    kinds: creates.map((op) => op.key.kind),
    vhosts: creates.map((op) => op.key.vhost),
    names: creates.map((op) => op.key.name),
    owners: creates.map((op) => op.owner),
  });
}

/** After the broker answered: deleted objects leave the ledger, written ones are confirmed. */
export async function settleOutcomes(
  m: EntityManager,
  clusterId: string,
  done: readonly SentOp[],
): Promise<void> {
  const ok = done.filter((d) => d.outcome.ok && !isAccessKind(d.op.key.kind));
  const keys = (xs: SentOp[]): LedgerKeyColumns => ({
    kinds: xs.map((d) => d.op.key.kind),
    vhosts: xs.map((d) => d.op.key.vhost),
    names: xs.map((d) => d.op.key.name),
  });
  const deleted = ok.filter((d) => d.op.op === 'delete');
  const written = ok.filter((d) => d.op.op !== 'delete');
  if (deleted.length) await deleteBatch(m, clusterId, keys(deleted));
  if (written.length) await confirmBatch(m, clusterId, keys(written));
}
