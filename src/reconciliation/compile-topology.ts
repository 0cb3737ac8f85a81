import { bindingName } from '../broker-topology/broker-paths';
import {
  encodeBinding,
  encodeExchange,
  encodeQueue,
  queueRequirements,
  type ExchangeModel,
  type QueueModel,
} from '../broker-topology/topology.codec';
import type { VersionRequirement } from '../broker-topology/broker-versions';
import type { DesiredObject } from './broker-state';

/** A declared exchange, queue or binding as the compiler sees it (a registry row). */
export interface DeclaredObject {
  id: string;
  kind: 'exchange' | 'queue' | 'binding';
  vhost: string;
  /** The broker ObjectKey name (a binding's is built from its parts). */
  name: string;
  definition: Record<string, unknown>;
}

/** Owners of declared objects: `exchange:<uuid>`, `queue:<uuid>`, `binding:<uuid>`. */
export const isDeclaredOwner = (owner: string): boolean => /^(exchange|queue|binding):/.test(owner);

/**
 * Declared objects -> desired objects (not ensure-only: crossdock owns what it creates for
 * them). `supported` records a row whose keys the cluster's version does not know.
 */
export function compileDeclared(
  declared: readonly DeclaredObject[],
  vhosts: readonly string[],
  supported: (owner: string, resource: string, reqs: VersionRequirement[]) => boolean,
  warnings: string[],
): DesiredObject[] {
  const out: DesiredObject[] = [];
  for (const o of declared) {
    const owner = `${o.kind}:${o.id}`;
    if (!vhosts.includes(o.vhost)) {
      warnings.push(`${o.kind} ${o.name}: vhost ${o.vhost} is not managed on this cluster`);
      continue;
    }
    if (o.kind === 'exchange') {
      out.push({
        kind: 'exchange',
        vhost: o.vhost,
        name: o.name,
        owner,
        value: encodeExchange(o.definition as unknown as ExchangeModel),
      });
    } else if (o.kind === 'queue') {
      const q = o.definition as unknown as QueueModel;
      if (!supported(owner, `queue ${o.name}`, queueRequirements(q.type))) continue;
      out.push({ kind: 'queue', vhost: o.vhost, name: o.name, owner, value: encodeQueue(q) });
    } else {
      const b = o.definition as {
        source: string;
        destinationType: 'queue' | 'exchange';
        destination: string;
        routingKey: string;
        arguments?: Record<string, unknown>;
      };
      out.push({
        kind: 'binding',
        vhost: o.vhost,
        name: bindingName({
          source: b.source,
          destinationType: b.destinationType === 'queue' ? 'q' : 'e',
          destination: b.destination,
          routingKey: b.routingKey,
        }),
        owner,
        value: encodeBinding({ arguments: b.arguments ?? {} }),
      });
    }
  }
  return out;
}

/**
 * One desired object per key: a declared object replaces what links or probes would only
 * ensure under the same key (the user's definition wins).
 */
export function mergeDeclared(
  objects: DesiredObject[],
  declared: DesiredObject[],
): DesiredObject[] {
  const id = (o: DesiredObject) => `${o.kind}\u0001${o.vhost}\u0001${o.name}`;
  const mine = new Set(declared.map(id));
  return [...objects.filter((o) => !mine.has(id(o))), ...declared];
}
