import { isRec, type Rec } from './codec';

/** A policy (`PUT /api/policies/{vhost}/{name}`) in crossdock's terms. */
export interface PolicyModel {
  pattern: string;
  definition: Rec;
  priority: number;
  /** The broker's `apply-to`: `all`, `queues`, `exchanges`, or a queue type's (3.12+). */
  applyTo: string;
}

/** The broker's defaults for what a policy leaves out (it echoes both). */
export const policyDefaults = { priority: 0, applyTo: 'all' } as const;

/** Definition keys that attach federation: mutually exclusive, one per policy. */
export const federationPolicyKeys = [
  'federation-upstream',
  'federation-upstream-set',
  'federation-upstream-pattern',
] as const;

export function encodePolicy(m: PolicyModel): Rec {
  return {
    pattern: m.pattern,
    definition: m.definition,
    priority: m.priority,
    'apply-to': m.applyTo,
  };
}

/** Lenient: a policy always decodes (a member of the wrong type reads as absent). */
export function decodePolicy(value: unknown): PolicyModel {
  const v = isRec(value) ? value : {};
  return {
    pattern: typeof v.pattern === 'string' ? v.pattern : '',
    definition: isRec(v.definition) ? v.definition : {},
    priority: typeof v.priority === 'number' ? v.priority : policyDefaults.priority,
    applyTo: typeof v['apply-to'] === 'string' ? v['apply-to'] : policyDefaults.applyTo,
  };
}

/** A policy that applies exactly one exchange or queue (names are regex-escaped). */
export const exactNamePattern = (name: string) =>
  `^${name.replace(/[.\\^$|?*+()[\]{}-]/g, '\\$&')}$`;
