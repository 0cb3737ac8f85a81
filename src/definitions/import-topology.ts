import { objectId, parseBindingName } from '../broker-topology/broker-paths';
import { decodeExchange, decodeQueue } from '../broker-topology/topology.codec';
import { federationQueuePrefix } from '../broker-topology/broker-paths';
import type { ObjectKey } from '../reconciliation/broker-state';
import type { ImportContext } from './import-context';
import type { TopologyImport } from './import-types';
import { argumentProblems } from '../topology/topology-validation';

/**
 * Exchanges, queues and bindings of the imported vhosts that become declared resources (opt-in):
 * what crossdock already owns or declares, what a link made (federation queues and their
 * internal exchanges), what the broker reserves (`amq.*`) and what it drops by itself
 * (auto-delete) are skipped. An adopted object already matches its declaration: the next pass
 * takes it over without a broker write. Deletion policy `retain`: a later delete of the resource
 * never removes the object.
 */
export function planTopology(ctx: ImportContext, declared: ReadonlySet<string>): TopologyImport[] {
  const out: TopologyImport[] = [];
  const skipped = new Set<string>();
  const skip = (o: ObjectKey, reason: string) => {
    skipped.add(objectId(o));
    ctx.skip(o, reason);
  };
  const known = (o: ObjectKey) => ctx.input.owned.has(objectId(o)) || declared.has(objectId(o));
  for (const o of ctx.objects) {
    if (o.kind !== 'exchange' && o.kind !== 'queue') continue;
    if (known(o)) {
      skip(o, 'already managed by crossdock');
      continue;
    }
    if (o.name.startsWith(federationQueuePrefix)) {
      skip(o, 'made by a federation link: left as it is');
      continue;
    }
    if (o.name.startsWith('amq.')) {
      skip(o, 'named by the broker (amq.*): left as it is');
      continue;
    }
    const args = (o.value as { arguments?: unknown }).arguments;
    const bad = argumentProblems(args && typeof args === 'object' ? (args as never) : {});
    if (bad.length) {
      skip(o, `its arguments cannot be declared: ${bad[0].field} ${bad[0].message}`);
      continue;
    }
    if (o.kind === 'exchange') {
      const x = decodeExchange(o.value);
      if (!x.ok || x.model.type === 'x-federation-upstream') {
        skip(o, x.ok ? 'made by a federation link: left as it is' : x.reason);
        continue;
      }
      if (x.model.autoDelete) {
        skip(o, 'auto-delete: the broker removes it by itself, left as it is');
        continue;
      }
      out.push({
        type: 'exchange',
        vhost: o.vhost,
        name: o.name,
        exchange: x.model,
        source: key(o),
      });
    } else {
      const q = decodeQueue(o.value);
      if (!q.ok) {
        skip(o, q.reason);
        continue;
      }
      if (q.model.autoDelete) {
        skip(o, 'auto-delete: the broker removes it by itself, left as it is');
        continue;
      }
      out.push({ type: 'queue', vhost: o.vhost, name: o.name, queue: q.model, source: key(o) });
    }
    ctx.verdict(o, {
      action: 'adopt',
      reason: `declared in crossdock as it is (deletion policy retain)`,
      resources: [{ type: o.kind, name: o.name }],
    });
  }
  for (const o of ctx.objects) {
    if (o.kind !== 'binding') continue;
    if (known(o)) {
      skip(o, 'already managed by crossdock');
      continue;
    }
    const b = parseBindingName(o.name);
    const ends = [
      { kind: 'exchange' as const, vhost: o.vhost, name: b.source },
      {
        kind: b.destinationType === 'q' ? ('queue' as const) : ('exchange' as const),
        vhost: o.vhost,
        name: b.destination,
      },
    ];
    if (ends.some((e) => skipped.has(objectId(e)) || e.name.startsWith(federationQueuePrefix))) {
      skip(o, 'its source or destination is left as it is');
      continue;
    }
    const args =
      o.value && typeof o.value === 'object' && !Array.isArray(o.value)
        ? o.value.arguments
        : undefined;
    out.push({
      type: 'binding',
      vhost: o.vhost,
      name: o.name,
      binding: {
        source: b.source,
        destinationType: b.destinationType === 'q' ? 'queue' : 'exchange',
        destination: b.destination,
        routingKey: b.routingKey,
        arguments: (args && typeof args === 'object' ? args : {}) as Record<string, unknown>,
      },
      source: key(o),
    });
    ctx.verdict(o, {
      action: 'adopt',
      reason: 'declared in crossdock as it is',
      resources: [{ type: 'binding', name: `${b.source} -> ${b.destination}` }],
    });
  }
  return out;
}

const key = (o: ObjectKey): ObjectKey => ({ kind: o.kind, vhost: o.vhost, name: o.name });
