import type { FieldError } from '../common/errors/domain.exception';
import { invalidInput, patternProblem } from '../common/dto/broker-pattern';

export type ReplicationRule =
  | {
      pattern: string;
      mode: 'classic';
      haMode: 'all' | 'exactly' | 'nodes';
      haParams?: number | string[];
      haSyncMode: 'manual' | 'automatic';
    }
  | { pattern: string; mode: 'quorum'; replicas: number };

export interface ReplicationInput {
  pattern?: unknown;
  mode?: unknown;
  haMode?: unknown;
  haParams?: unknown;
  haSyncMode?: unknown;
  replicas?: unknown;
}

export const classicMirroringWarning =
  'classic queue mirroring (ha-mode) is deprecated and removed in RabbitMQ 4.0, which refuses to start with any ha-mode policy: plan a move to quorum queues';

/**
 * Cross-field rules the DTO decorators cannot express. `nodeNames` are the cluster's declared
 * Erlang node names (ha-mode nodes must name members).
 */
export function validateReplication(
  rules: ReplicationInput[],
  nodeNames: string[],
): { rules: ReplicationRule[]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const out: ReplicationRule[] = [];
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    const at = (f: string) => `replication.${i}.${f}`;
    const pattern = typeof r.pattern === 'string' ? r.pattern : '';
    const problem = patternProblem(pattern);
    if (problem) errors.push({ field: at('pattern'), message: problem });
    if (seen.has(pattern)) errors.push({ field: at('pattern'), message: 'pattern appears twice' });
    seen.add(pattern);
    if (r.mode === 'quorum') {
      if (r.haMode !== undefined || r.haParams !== undefined || r.haSyncMode !== undefined) {
        errors.push({
          field: at('mode'),
          message: 'quorum replication takes replicas, not ha-* settings',
        });
      }
      const n = r.replicas;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 9) {
        errors.push({ field: at('replicas'), message: 'replicas must be an integer from 1 to 9' });
      } else if (n > nodeNames.length && nodeNames.length > 0) {
        errors.push({
          field: at('replicas'),
          message: `replicas (${n}) exceeds the cluster's ${nodeNames.length} node(s)`,
        });
      } else out.push({ pattern, mode: 'quorum', replicas: n });
      return;
    }
    if (r.mode !== 'classic') {
      errors.push({ field: at('mode'), message: 'mode must be classic or quorum' });
      return;
    }
    if (r.replicas !== undefined)
      errors.push({ field: at('replicas'), message: 'replicas applies to quorum only' });
    const haSyncMode = r.haSyncMode ?? 'manual';
    if (haSyncMode !== 'manual' && haSyncMode !== 'automatic') {
      errors.push({ field: at('haSyncMode'), message: 'haSyncMode must be manual or automatic' });
    }
    const sync = haSyncMode as 'manual' | 'automatic';
    switch (r.haMode) {
      case 'all':
        if (r.haParams !== undefined)
          errors.push({ field: at('haParams'), message: 'ha-mode all takes no haParams' });
        else out.push({ pattern, mode: 'classic', haMode: 'all', haSyncMode: sync });
        break;
      case 'exactly': {
        const n = r.haParams;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
          errors.push({
            field: at('haParams'),
            message: 'ha-mode exactly needs haParams: a positive integer',
          });
        } else
          out.push({ pattern, mode: 'classic', haMode: 'exactly', haParams: n, haSyncMode: sync });
        break;
      }
      case 'nodes': {
        const names = r.haParams;
        if (
          !Array.isArray(names) ||
          names.length === 0 ||
          !names.every((x) => typeof x === 'string')
        ) {
          errors.push({
            field: at('haParams'),
            message: 'ha-mode nodes needs haParams: a list of node names',
          });
        } else {
          const unknown = (names as string[]).filter((x) => !nodeNames.includes(x));
          if (unknown.length) {
            errors.push({
              field: at('haParams'),
              message: `not nodes of this cluster: ${unknown.join(', ')}`,
            });
          } else
            out.push({
              pattern,
              mode: 'classic',
              haMode: 'nodes',
              haParams: names as string[],
              haSyncMode: sync,
            });
        }
        break;
      }
      default:
        errors.push({ field: at('haMode'), message: 'haMode must be all, exactly or nodes' });
    }
  });
  return { rules: out, errors };
}

export function replicationWarnings(rules: ReplicationRule[]): string[] {
  return rules.some((r) => r.mode === 'classic') ? [classicMirroringWarning] : [];
}

/** The rules as stored; throws naming every rule that is wrong. */
export function checkReplication(
  rules: ReplicationInput[] | undefined,
  nodeNames: string[],
): ReplicationRule[] {
  const { rules: valid, errors } = validateReplication(rules ?? [], nodeNames);
  if (errors.length) throw invalidInput(errors);
  return valid;
}
