import { objectId } from '../broker-topology/broker-paths';
import {
  managedPrefix,
  type ObjectKey,
  type ObjectKind,
  type ObservedObject,
} from '../reconciliation/broker-state';
import type { ImportInput, ImportItem, ImportWarning, ResourceImport } from './import-types';

export type Rec = Record<string, unknown>;
export const isRec = (v: unknown): v is Rec =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
export const key = (o: ObjectKey): ObjectKey => ({ kind: o.kind, vhost: o.vhost, name: o.name });

/** What one import plans with: the objects, the verdicts so far (the first one given wins). */
export interface ImportContext {
  input: ImportInput;
  /** The observed objects of the imported vhosts. */
  objects: ObservedObject[];
  warnings: ImportWarning[];
  resources: ResourceImport[];
  verdicts: Map<string, ImportItem>;
  taken: { policies: Set<string>; links: Set<string>; shovels: Set<string> };
  /** crossdock's own already (in the ledger, or named with its prefix). */
  managed: (o: ObjectKey) => boolean;
  find: (kind: ObjectKind, vhost: string, name: string) => ObservedObject | undefined;
  warn: (o: ObjectKey, detail: string) => void;
  verdict: (o: ObjectKey, item: Omit<ImportItem, keyof ObjectKey>) => void;
  skip: (o: ObjectKey, reason: string) => void;
}

export function importContext(input: ImportInput): ImportContext {
  const vhosts = new Set(input.vhosts);
  const objects = input.observed.filter((o) => vhosts.has(o.vhost));
  const warnings: ImportWarning[] = [];
  const verdicts = new Map<string, ImportItem>();
  const verdict: ImportContext['verdict'] = (o, item) => {
    if (!verdicts.has(objectId(o))) verdicts.set(objectId(o), { ...key(o), ...item });
  };
  return {
    input,
    objects,
    warnings,
    resources: [],
    verdicts,
    taken: {
      policies: new Set(input.takenNames.policies),
      links: new Set(input.takenNames.links),
      shovels: new Set(input.takenNames.shovels),
    },
    managed: (o) => input.owned.has(objectId(o)) || o.name.startsWith(managedPrefix),
    find: (kind, vhost, name) =>
      objects.find((o) => o.kind === kind && o.vhost === vhost && o.name === name),
    warn: (o, detail) => warnings.push({ ...key(o), detail }),
    verdict,
    skip: (o, reason) => verdict(o, { action: 'skip', reason }),
  };
}
