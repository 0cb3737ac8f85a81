import { bindingName } from '../broker-topology/broker-paths';
import type { ObservedObject } from '../reconciliation/broker-state';
import { planImport, type ImportInput } from './import-plan';

const me = { id: 'c2', name: 'dc2/main', siteId: 's2', vhosts: ['v'], addresses: [] };
const o = (kind: ObservedObject['kind'], name: string, value: object): ObservedObject => ({
  kind,
  vhost: 'v',
  name,
  value: value as ObservedObject['value'],
});
const bind = (source: string, dest: string) =>
  bindingName({ source, destinationType: 'q', destination: dest, routingKey: 'k' });

const observed = [
  o('exchange', 'orders', {
    type: 'topic',
    durable: true,
    auto_delete: false,
    internal: false,
    arguments: {},
  }),
  o('exchange', 'federation: orders -> dc2 B', {
    type: 'x-federation-upstream',
    durable: true,
    auto_delete: false,
    internal: true,
    arguments: {},
  }),
  o('queue', 'orders.eu', {
    durable: true,
    auto_delete: false,
    arguments: { 'x-queue-type': 'quorum' },
  }),
  o('queue', 'amq.gen-1', { durable: false, auto_delete: true, arguments: {} }),
  o('queue', 'owned', { durable: true, auto_delete: false, arguments: {} }),
  o('queue', 'federation: orders -> dc2', { durable: true, auto_delete: false, arguments: {} }),
  o('binding', bind('orders', 'orders.eu'), { arguments: {} }),
  o('binding', bind('orders', 'amq.gen-1'), { arguments: {} }),
];

const input = (extra: Partial<ImportInput>): ImportInput => ({
  cluster: me,
  clusters: [me],
  vhosts: ['v'],
  observed,
  owned: new Set(['queue\u0001v\u0001owned']),
  takenNames: { policies: [], links: [], shovels: [] },
  ...extra,
});

describe('importing exchanges, queues and bindings', () => {
  it('leaves them out unless asked', () => {
    const plan = planImport(input({}));
    expect(plan.items).toEqual([]);
    expect(plan.topology).toEqual([]);
  });

  it('adopts user objects as declared resources and skips what crossdock, links and the broker own', () => {
    const plan = planImport(input({ topology: { declared: new Set() } }));
    expect(plan.topology.map((t) => `${t.type} ${t.name}`)).toEqual([
      'exchange orders',
      'queue orders.eu',
      `binding ${bind('orders', 'orders.eu')}`,
    ]);
    expect(plan.topology[1]).toMatchObject({
      queue: { type: 'quorum', durable: true, autoDelete: false, arguments: {} },
    });
    const verdicts = Object.fromEntries(plan.items.map((i) => [`${i.kind} ${i.name}`, i.action]));
    expect(verdicts).toEqual({
      'exchange orders': 'adopt',
      'exchange federation: orders -> dc2 B': 'skip',
      'queue orders.eu': 'adopt',
      'queue amq.gen-1': 'skip',
      'queue owned': 'skip',
      'queue federation: orders -> dc2': 'skip',
      [`binding ${bind('orders', 'orders.eu')}`]: 'adopt',
      [`binding ${bind('orders', 'amq.gen-1')}`]: 'skip',
    });
  });

  it('skips what the cluster declares already', () => {
    const plan = planImport(
      input({ topology: { declared: new Set(['exchange\u0001v\u0001orders']) } }),
    );
    expect(plan.topology.map((t) => t.name)).not.toContain('orders');
  });
});
