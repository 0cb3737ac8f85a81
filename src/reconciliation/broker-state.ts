/**
 * The broker-facing model the reconciler works on: the compiler produces a DesiredState, the
 * observer reads an ObservedState, the differ turns both into a Plan, the applier executes it.
 * Everything here is plain data (JSON-serialisable) so pure steps can be unit-tested.
 */

import {
  managedPrefix,
  objectKinds,
  type BrokerValue,
  type DesiredObject,
  type DesiredState,
  type ObjectKey,
  type ObjectKind,
  type ObservedObject,
  type ObservedState,
} from '../broker-topology/object-kinds';

// The object model lives in broker-topology (below the reconciler and the probes); re-exported
// here for the reconciler's files.
export {
  managedPrefix,
  objectKinds,
  type BrokerValue,
  type DesiredObject,
  type DesiredState,
  type ObjectKey,
  type ObjectKind,
  type ObservedObject,
  type ObservedState,
};

export interface FieldChangeLike {
  path: string;
  before?: unknown;
  after?: unknown;
}

export type PlanOp =
  | { op: 'create'; key: ObjectKey; after: BrokerValue; owner: string }
  | {
      op: 'update';
      key: ObjectKey;
      before: BrokerValue;
      after: BrokerValue;
      owner: string;
      changes: FieldChangeLike[];
    }
  | { op: 'delete'; key: ObjectKey; before: BrokerValue; owner: string };

export interface PlanFinding {
  kind:
    | 'drift'
    | 'shadowed'
    | 'unmanaged-conflict'
    | 'orphan-federation-queue'
    | 'ensure-mismatch'
    | 'definition-conflict'
    | 'pending-cleanup'
    | 'held-back'
    | 'self-deleted'
    | 'engine-held';
  key: ObjectKey;
  detail: string;
}

export interface Plan {
  ops: PlanOp[];
  findings: PlanFinding[];
  /**
   * Objects in crossdock's own probe vhost that already hold exactly the desired value but are
   * not in the ledger (the far side's federation link or shovel declared them before this
   * cluster's first pass): the pass records them as owned, no broker write needed.
   */
  adoptions?: LedgerEntry[];
  /**
   * Owned objects the broker removed by design once done (selfDeletion mode `once`, e.g. a
   * shovel with a numeric src-delete-after): not re-created; their owners are completed.
   */
  completions?: Completion[];
}

export interface Completion {
  key: ObjectKey;
  owner: string;
  /** Why the broker removed it (selfDeletion's reason). */
  reason: string;
}

/** Owned objects: the ownership ledger (written before any broker write). */
export interface LedgerEntry extends ObjectKey {
  owner: string;
  /**
   * The broker accepted a write of the object (or a pass saw it there) at least once; false
   * while only the ledger-first row exists. Absent: true.
   */
  confirmed?: boolean;
}
