import { createHash } from 'node:crypto';
import type { PolicyApplyTo } from '../broker-topology/broker-versions';
import { encodePolicy } from '../broker-topology/policy.codec';
import { encodeUpstreamSet } from '../broker-topology/upstream-set.codec';
import { managedPrefix, type DesiredObject } from './broker-state';
import { intersect, toPattern, type Selector } from './selectors';

/**
 * Policy merging: every key that must reach the same object is merged into one policy (the
 * broker applies one policy per object); each non-empty intersection of key sources becomes a
 * policy whose priority grows with the number of sources.
 */

export interface CompileConflict {
  vhost: string;
  key: string;
  sources: string[];
  detail: string;
  applyTo: 'queues' | 'exchanges';
  /** The priority both sources share (a higher one would simply win). */
  priority: number;
  /** What each source sets, in `sources` order. */
  values: unknown[];
  /** Broker pattern of the objects both cover. */
  pattern: string;
}

export const policyPriorityBase = 100;
const short = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);

export interface KeySource {
  id: string;
  applyTo: PolicyApplyTo;
  selector: Selector;
  keys: Record<string, unknown>;
  priority: number;
  /** Federation links contribute upstream names, merged into one upstream or an upstream set. */
  upstream?: string;
}

/** Combinations of two or more key sources generated per vhost and kind, at most. */
const maxCombinations = 256;

export function emitPolicies(
  vhost: string,
  applyTo: 'queues' | 'exchanges',
  srcs: KeySource[],
  known: string[],
  out: DesiredObject[],
  conflicts: CompileConflict[],
  warnings: string[],
): void {
  // Every source on its own is always emitted; only combinations (which can grow
  // combinatorially with overlapping sources) are bounded.
  let combinations = 0;
  let capped = false;
  // `queues` covers every queue type; a per-type source narrows a combination to its type, and
  // two different types never meet on one queue.
  const narrow = (a: PolicyApplyTo, b: PolicyApplyTo): PolicyApplyTo | null =>
    a === b || b === 'queues' ? a : a === 'queues' ? b : null;
  const walk = (start: number, chosen: KeySource[], sel: Selector | null, scope: PolicyApplyTo) => {
    for (let i = start; i < srcs.length; i++) {
      const nextScope = narrow(scope, srcs[i].applyTo);
      if (!nextScope) continue;
      const next = sel ? intersect(sel, srcs[i].selector, known) : srcs[i].selector;
      if (!next) continue;
      if (chosen.length > 0) {
        if (combinations >= maxCombinations) {
          capped = true;
          return;
        }
        combinations += 1;
      }
      const set = [...chosen, srcs[i]];
      const policy = mergeSources(vhost, applyTo, nextScope, set, next, conflicts);
      if (policy) out.push(...policy);
      walk(i + 1, set, next, nextScope);
    }
  };
  walk(0, [], null, applyTo);
  if (capped)
    warnings.push(
      `vhost ${vhost}: more than ${maxCombinations} combinations of overlapping ${applyTo} key sources; some combinations are not generated`,
    );
}

function mergeSources(
  vhost: string,
  applyTo: 'queues' | 'exchanges',
  scope: PolicyApplyTo,
  set: KeySource[],
  sel: Selector,
  conflicts: CompileConflict[],
): DesiredObject[] | null {
  const definition: Record<string, unknown> = {};
  const from: Record<string, KeySource> = {};
  for (const src of [...set].sort((a, b) => b.priority - a.priority)) {
    for (const [k, v] of Object.entries(src.keys)) {
      const prior = from[k];
      if (!prior) {
        definition[k] = v;
        from[k] = src;
      } else if (
        JSON.stringify(definition[k]) !== JSON.stringify(v) &&
        prior.priority === src.priority
      ) {
        conflicts.push({
          vhost,
          key: k,
          sources: [prior.id, src.id],
          detail: `${prior.id} sets ${k}=${JSON.stringify(definition[k])}, ${src.id} sets ${JSON.stringify(v)} on the same ${applyTo}`,
          applyTo,
          priority: src.priority,
          values: [definition[k], v],
          pattern: toPattern(sel),
        });
      }
    }
  }
  const upstreams = set
    .filter((x) => x.upstream)
    .map((x) => x.upstream as string)
    .sort();
  const extra: DesiredObject[] = [];
  const ids = set.map((x) => x.id).sort();
  const owner =
    ids.find((x) => x.startsWith('link:')) ??
    ids.find((x) => x.startsWith('policy:')) ??
    `cluster:${vhost}`;
  if (upstreams.length === 1) definition['federation-upstream'] = upstreams[0];
  if (upstreams.length > 1) {
    // Several links into one object: an explicitly named set, never the implicit `all`.
    const setName = `${managedPrefix}set.${short(upstreams.join(','))}`;
    definition['federation-upstream-set'] = setName;
    extra.push({
      kind: 'federation-upstream-set',
      vhost,
      name: setName,
      value: encodeUpstreamSet(upstreams),
      owner,
    });
  }
  if (Object.keys(definition).length === 0) return extra;
  const name = `${managedPrefix}p.${applyTo === 'queues' ? 'q' : 'x'}.${short(ids.join(','))}`;
  extra.push({
    kind: 'policy',
    vhost,
    name,
    value: encodePolicy({
      pattern: toPattern(sel),
      definition,
      priority: policyPriorityBase + set.length,
      applyTo: scope,
    }),
    owner,
  });
  return extra;
}
