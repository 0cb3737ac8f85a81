import type { DataSource } from 'typeorm';
import { objectId } from '../broker-topology/broker-paths';
import type { DesiredState, LedgerEntry, ObservedState, Plan, PlanFinding } from './broker-state';
import { adoptOne, confirmOne, deleteOne, ledgerOf, markLinksApplied } from './ledger.repository';

export interface PassLedger {
  /** The observation without the objects another writer (the overflow engine) owns. */
  observed: ObservedState;
  /** The ledger rows this pass compares with (the stale ones forgotten). */
  live: LedgerEntry[];
  /** Rows forgotten: their object was neither wanted nor on the broker. */
  stale: LedgerEntry[];
  /** What the pass leaves to another writer (the overflow engine's spill shovels), listed. */
  engineHeld: PlanFinding[];
}

/**
 * Reads the ledger of owned objects and brings it in line with a full observation, under the
 * cluster lock: rows of objects nobody wants that are not on the broker go, rows of objects seen
 * on the broker are confirmed.
 */
export async function settleLedger(
  ds: Pick<DataSource, 'query'>,
  clusterId: string,
  vhosts: readonly string[],
  observed: ObservedState,
  desired: Pick<DesiredState, 'objects'>,
): Promise<PassLedger> {
  const fullLedger = await ledgerOf(ds, clusterId);
  // Spill shovels belong to the overflow engine: a pass neither recreates one that ended by
  // design nor deletes a running one, so they leave the comparison on both sides.
  const engineOwned = new Set(
    fullLedger.filter((e) => e.owner.startsWith('overflow:')).map((e) => objectId(e)),
  );
  const ledger = fullLedger.filter((e) => !engineOwned.has(objectId(e)));
  const seen = {
    ...observed,
    objects: observed.objects.filter((o) => !engineOwned.has(objectId(o))),
  };
  // Ledger rows whose object is neither wanted nor on the broker (a crash between the ledger
  // write and the broker write): forget them, under the lock, after a full observation.
  const present = new Set(seen.objects.map((o) => objectId(o)));
  const wanted = new Set(desired.objects.map((o) => objectId(o)));
  const stale = ledger.filter(
    (e) => vhosts.includes(e.vhost) && !present.has(objectId(e)) && !wanted.has(objectId(e)),
  );
  for (const e of stale) {
    await deleteOne(ds, clusterId, e);
  }
  const live = ledger.filter((e) => !stale.includes(e));
  // Seen on the broker: accepted at least once, even if the write that put it there timed out.
  for (const e of live.filter((x) => x.confirmed === false && present.has(objectId(x)))) {
    await confirmOne(ds, clusterId, e);
    e.confirmed = true;
  }
  const onBroker = new Set(observed.objects.map((o) => objectId(o)));
  const engineHeld = fullLedger
    .filter((e) => engineOwned.has(objectId(e)))
    .map((e): PlanFinding => ({
      kind: 'engine-held',
      key: { kind: e.kind, vhost: e.vhost, name: e.name },
      detail: `spill shovel of overflow rule ${e.owner.slice('overflow:'.length)} (${onBroker.has(objectId(e)) ? 'on the broker' : 'not on the broker'}): put and deleted by the overflow engine through the apply path under the cluster lock, not by a pass`,
    }));
  return { observed: seen, live, stale, engineHeld };
}

/** Probe-vhost objects the far side declared first, already as desired: owned from now on. */
export async function adoptObjects(
  ds: Pick<DataSource, 'query'>,
  clusterId: string,
  adoptions: Plan['adoptions'],
): Promise<void> {
  for (const a of adoptions ?? []) {
    await adoptOne(ds, clusterId, a);
  }
}

/**
 * What a pass compiled is now on the broker: links changed since it started (`passStarted`)
 * stay behind, and so do held-back links (not on the broker as the registry says).
 */
export async function markApplied(
  ds: Pick<DataSource, 'query'>,
  clusterId: string,
  passStarted: Date,
  heldBackLinks: string[],
): Promise<void> {
  await markLinksApplied(ds, clusterId, passStarted, heldBackLinks);
}
