import type { ObservedObject } from './broker-state';
import { cleanupObjects, type LinkCleanup } from './link-cleanup';

const q = (name: string, vhost = 'up'): ObservedObject => ({
  kind: 'queue',
  vhost,
  name,
  value: { durable: true, auto_delete: false, arguments: {} },
});
const x = (name: string, vhost = 'up'): ObservedObject => ({
  kind: 'exchange',
  vhost,
  name,
  value: { type: 'x-federation-upstream', internal: true },
});
const cleanup = (extra: Partial<LinkCleanup> = {}): LinkCleanup => ({
  id: 'c1',
  linkId: 'L1',
  linkName: 'orders-link',
  upstreamVhost: 'up',
  downstreamClusterName: 'dc2',
  downstreamVhost: 'up',
  targets: ['orders'],
  targetPrefix: null,
  ready: true,
  ...extra,
});

describe('cleanupObjects: what a deleted exchange-federation link left on its upstream cluster', () => {
  const observed = [
    q('federation: orders -> dc2'),
    x('federation: orders -> dc2 B'),
    q('federation: payments -> dc2'),
    q('federation: orders -> dc3'),
    q('federation: orders -> dc2', 'elsewhere'),
    q('orders'),
  ];

  it('names the queue and its internal exchange for the link, and nothing of other links', () => {
    expect(cleanupObjects([cleanup()], observed)).toEqual([
      {
        key: { kind: 'queue', vhost: 'up', name: 'federation: orders -> dc2' },
        owner: 'link:L1',
        queue: 'federation: orders -> dc2',
        ready: true,
        linkName: 'orders-link',
      },
      {
        key: { kind: 'exchange', vhost: 'up', name: 'federation: orders -> dc2 B' },
        owner: 'link:L1',
        queue: 'federation: orders -> dc2',
        ready: true,
        linkName: 'orders-link',
      },
    ]);
  });

  it('matches prefix links on the exchange name the queue copies', () => {
    const found = cleanupObjects(
      [cleanup({ targets: [], targetPrefix: 'pay', ready: false })],
      observed,
    );
    expect(found.map((o) => [o.key.kind, o.key.name, o.ready])).toEqual([
      ['queue', 'federation: payments -> dc2', false],
    ]);
  });

  it('follows the downstream vhost into the name', () => {
    const found = cleanupObjects(
      [cleanup({ downstreamVhost: 'down' })],
      [q('federation: orders -> dc2'), q('federation: orders -> dc2:down:orders')],
    );
    expect(found.map((o) => o.key.name)).toEqual(['federation: orders -> dc2:down:orders']);
  });

  it('finds nothing when nothing is left', () => {
    expect(cleanupObjects([cleanup()], [q('orders')])).toEqual([]);
    expect(cleanupObjects([], observed)).toEqual([]);
  });

  it('a link that named its upstream exchange: the queues named after that exchange', () => {
    const c = cleanup({ targets: ['orders'], upstreamObject: 'orders.up' });
    const seen = [
      q('federation: orders.up -> dc2:orders'),
      q('federation: orders -> dc2'),
      q('federation: orders.up -> dc2:payments'),
    ];
    expect(cleanupObjects([c], seen).map((o) => o.key.name)).toEqual([
      'federation: orders.up -> dc2:orders',
    ]);
    const byPrefix = cleanup({ targets: [], targetPrefix: 'pay', upstreamObject: 'orders.up' });
    expect(cleanupObjects([byPrefix], seen).map((o) => o.key.name)).toEqual([
      'federation: orders.up -> dc2:payments',
    ]);
  });
});
