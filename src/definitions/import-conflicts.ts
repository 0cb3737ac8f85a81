import { key } from './import-context';
import type { ImportConflict, ImportInput, ResourceImport } from './import-types';

const overlaps = (
  a: { targets?: string[] | null; targetPrefix?: string | null },
  b: { targets?: string[] | null; targetPrefix?: string | null },
) => {
  const an = a.targets ?? [];
  const bn = b.targets ?? [];
  if (an.some((n) => bn.includes(n))) return true;
  if (a.targetPrefix && bn.some((n) => n.startsWith(a.targetPrefix as string))) return true;
  if (b.targetPrefix && an.some((n) => n.startsWith(b.targetPrefix as string))) return true;
  return (
    !!a.targetPrefix &&
    !!b.targetPrefix &&
    (a.targetPrefix.startsWith(b.targetPrefix) || b.targetPrefix.startsWith(a.targetPrefix))
  );
};

/** Adoptable objects that would duplicate an existing crossdock link or shovel. */
export function importConflicts(
  input: ImportInput,
  resources: readonly ResourceImport[],
): ImportConflict[] {
  const conflicts: ImportConflict[] = [];
  for (const r of resources) {
    const origin = r.source;
    if (r.type === 'federation-link') {
      for (const l of input.existing?.links ?? []) {
        if (l.kind === r.kind && l.downstreamVhost === r.downstreamVhost && overlaps(l, r))
          conflicts.push({
            ...key(origin),
            resource: { type: r.type, name: r.name },
            detail: `crossdock federation link ${JSON.stringify(l.name)} already federates some of the same ${r.kind}s into vhost ${JSON.stringify(r.downstreamVhost)}: adopting would federate them twice`,
          });
      }
    }
    if (r.type === 'shovel') {
      for (const x of input.existing?.shovels ?? []) {
        if (x.sourceVhost === r.sourceVhost && !!r.sourceQueue && x.sourceQueue === r.sourceQueue)
          conflicts.push({
            ...key(origin),
            resource: { type: r.type, name: r.name },
            detail: `crossdock shovel ${JSON.stringify(x.name)} already moves queue ${JSON.stringify(r.sourceQueue)} of vhost ${JSON.stringify(r.sourceVhost)}`,
          });
      }
    }
  }
  return conflicts;
}
