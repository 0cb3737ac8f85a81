import type { DesiredState } from '../reconciliation/broker-state';
import { bindingName, parseBindingName } from '../broker-topology/broker-paths';
import { writeValue } from '../reconciliation/canonical';

/**
 * The file format of the management API's `GET/POST /api/definitions` (3.10), limited to what
 * crossdock generates: no users, permissions or global parameters (the link user's password is
 * crossdock's secret and lives only in URIs; an operator re-creates users their own way).
 */
export interface DefinitionsFile {
  vhosts: { name: string }[];
  users: never[];
  permissions: never[];
  topic_permissions: never[];
  global_parameters: never[];
  parameters: { vhost: string; component: string; name: string; value: unknown }[];
  policies: {
    vhost: string;
    name: string;
    pattern: unknown;
    'apply-to': unknown;
    definition: unknown;
    priority: unknown;
  }[];
  queues: {
    vhost: string;
    name: string;
    durable: unknown;
    auto_delete: unknown;
    arguments: unknown;
  }[];
  exchanges: {
    vhost: string;
    name: string;
    type: unknown;
    durable: unknown;
    auto_delete: unknown;
    internal: unknown;
    arguments: unknown;
  }[];
  bindings: {
    vhost: string;
    source: string;
    destination: string;
    destination_type: 'queue' | 'exchange';
    routing_key: string;
    arguments: unknown;
  }[];
}

const byName = <T extends { vhost: string; name?: string; source?: string }>(a: T, b: T) =>
  a.vhost.localeCompare(b.vhost) ||
  (a.name ?? a.source ?? '').localeCompare(b.name ?? b.source ?? '');

/**
 * Pure: a compiled desired state -> a definitions file `POST /api/definitions` accepts. Values
 * are what the reconciler would PUT (crossdock's defaults explicit: a definitions import, like
 * a PUT, would otherwise create non-durable exchanges and queues). Vhosts are every vhost the
 * state covers, so the file loads into a broker that lacks them.
 */
export function definitionsFile(desired: DesiredState): DefinitionsFile {
  const out: DefinitionsFile = {
    vhosts: [...new Set(desired.vhosts)].sort().map((name) => ({ name })),
    users: [],
    permissions: [],
    topic_permissions: [],
    global_parameters: [],
    parameters: [],
    policies: [],
    queues: [],
    exchanges: [],
    bindings: [],
  };
  for (const o of desired.objects) {
    const v = writeValue(o.kind, o.value) as Record<string, unknown>;
    switch (o.kind) {
      case 'federation-upstream':
      case 'federation-upstream-set':
      case 'shovel':
        out.parameters.push({
          vhost: o.vhost,
          component: o.kind,
          name: o.name,
          value: writeValue(o.kind, o.value),
        });
        break;
      case 'policy':
        out.policies.push({
          vhost: o.vhost,
          name: o.name,
          pattern: v.pattern,
          'apply-to': v['apply-to'],
          definition: v.definition,
          priority: v.priority,
        });
        break;
      case 'queue':
        out.queues.push({
          vhost: o.vhost,
          name: o.name,
          durable: v.durable,
          auto_delete: v.auto_delete,
          arguments: v.arguments,
        });
        break;
      case 'exchange':
        out.exchanges.push({
          vhost: o.vhost,
          name: o.name,
          type: v.type,
          durable: v.durable,
          auto_delete: v.auto_delete,
          internal: v.internal,
          arguments: v.arguments,
        });
        break;
      case 'binding': {
        const b = parseBindingName(o.name);
        out.bindings.push({
          vhost: o.vhost,
          source: b.source,
          destination: b.destination,
          destination_type: b.destinationType === 'q' ? 'queue' : 'exchange',
          routing_key: b.routingKey,
          arguments: v.arguments,
        });
        break;
      }
    }
  }
  out.parameters.sort((a, b) => a.component.localeCompare(b.component) || byName(a, b));
  out.policies.sort(byName);
  out.queues.sort(byName);
  out.exchanges.sort(byName);
  out.bindings.sort(
    (a, b) =>
      byName(a, b) ||
      a.destination.localeCompare(b.destination) ||
      a.routing_key.localeCompare(b.routing_key),
  );
  return out;
}

/** Pure: every object of a definitions file as `kind vhost name` keys (bindings as in ObjectKey). */
export function definitionsKeys(file: DefinitionsFile): string[] {
  return [
    ...file.parameters.map((p) => `${p.component}\u0001${p.vhost}\u0001${p.name}`),
    ...file.policies.map((p) => `policy\u0001${p.vhost}\u0001${p.name}`),
    ...file.queues.map((q) => `queue\u0001${q.vhost}\u0001${q.name}`),
    ...file.exchanges.map((x) => `exchange\u0001${x.vhost}\u0001${x.name}`),
    ...file.bindings.map(
      (b) =>
        `binding\u0001${b.vhost}\u0001${bindingName({ source: b.source, destinationType: b.destination_type === 'queue' ? 'q' : 'e', destination: b.destination, routingKey: b.routing_key })}`,
    ),
  ].sort();
}
