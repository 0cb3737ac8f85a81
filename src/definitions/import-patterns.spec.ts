import { parseAmqpUri } from '../broker-topology/link-uri';
import { clusterOfUris, patternTargets, resourceName } from './import-patterns';

describe('patternTargets (broker policy pattern -> link targets)', () => {
  it.each([
    ['^events$', { type: 'names', names: ['events'] }],
    ['^orders\\.created$', { type: 'names', names: ['orders.created'] }],
    ['^(a|b\\.c)$', { type: 'names', names: ['a', 'b.c'] }],
    ['^(?:x|y|x)$', { type: 'names', names: ['x', 'y'] }],
    ['^orders\\.', { type: 'prefix', prefix: 'orders.' }],
    ['^fed-', { type: 'prefix', prefix: 'fed-' }],
  ])('%s', (pattern, want) => {
    expect(patternTargets(pattern)).toEqual(want);
  });

  it.each([
    'events',
    '.*',
    '^events.in$',
    '^ev\\d+$',
    '^(a)|(b)$',
    '^(a|(b|c))$',
    '^$',
    '^',
    '^a|b$',
    '^events.*',
    '^[ab]$',
  ])('%s cannot be expressed, with a reason naming it', (pattern) => {
    const r = patternTargets(pattern);
    expect(r.type).toBe('none');
    if (r.type === 'none') expect(r.reason).toContain(JSON.stringify(pattern));
  });
});

describe('parseAmqpUri', () => {
  it('reads host, port and vhost, and only whether credentials are present', () => {
    expect(parseAmqpUri('amqp://u:secret@Host.example:5673/%2F?heartbeat=10')).toEqual({
      host: 'host.example',
      port: 5673,
      vhost: '/',
      hasCredentials: true,
    });
    expect(parseAmqpUri('amqp://h/v1')).toEqual({
      host: 'h',
      port: 5672,
      vhost: 'v1',
      hasCredentials: false,
    });
    expect(parseAmqpUri('amqps://[::1]:5000')).toEqual({
      host: '::1',
      port: 5000,
      vhost: '/',
      hasCredentials: false,
    });
    expect(parseAmqpUri('amqp://')).toEqual({
      host: '',
      port: 5672,
      vhost: '/',
      hasCredentials: false,
    });
    expect(parseAmqpUri('amqp:///x%2Fy')).toMatchObject({ host: '', vhost: 'x/y' });
  });
  it.each(['http://h', 'amqp://h:0', 'amqp://h:99999', 'amqp://h/%E0%A4%A', 'nonsense'])(
    'rejects %s',
    (u) => expect(parseAmqpUri(u)).toBeUndefined(),
  );
});

describe('clusterOfUris (URI -> registered cluster)', () => {
  const dc1 = {
    id: 'c1',
    name: 'dc1/main',
    siteId: 's1',
    vhosts: ['/', 'v'],
    addresses: [
      { host: '10.0.0.1', port: 5672 },
      { host: 'lb.dc1', port: 5672 },
    ],
  };
  const dc2 = {
    id: 'c2',
    name: 'dc2/main',
    siteId: 's2',
    vhosts: ['v'],
    addresses: [{ host: '127.0.0.1', port: 39150 }],
  };
  it('matches a node, a link endpoint or a load balancer by host and port', () => {
    expect(clusterOfUris('amqp://u:p@lb.dc1/v', [dc1, dc2])).toMatchObject({
      ok: true,
      vhost: 'v',
      hasCredentials: true,
      cluster: { id: 'c1' },
    });
    expect(clusterOfUris(['amqp://10.0.0.1', 'amqp://LB.dc1:5672'], [dc1, dc2])).toMatchObject({
      ok: true,
      vhost: '/',
      cluster: { id: 'c1' },
    });
    expect(clusterOfUris('amqp://localhost:39150/v', [dc1, dc2])).toMatchObject({
      ok: true,
      cluster: { id: 'c2' },
    });
    expect(clusterOfUris('amqp:///v', [dc1, dc2], dc2)).toMatchObject({
      ok: true,
      cluster: { id: 'c2' },
    });
  });
  it('refuses unknown addresses, mixed clusters or vhosts, and never echoes credentials', () => {
    const unknown = clusterOfUris('amqp://admin:hunter2@elsewhere:5672', [dc1, dc2]);
    expect(unknown).toMatchObject({ ok: false, hasCredentials: true });
    expect(JSON.stringify(unknown)).not.toContain('hunter2');
    expect(clusterOfUris(['amqp://10.0.0.1', 'amqp://127.0.0.1:39150'], [dc1, dc2])).toMatchObject({
      ok: false,
      reason: 'the URIs reach different clusters',
    });
    expect(clusterOfUris(['amqp://10.0.0.1/a', 'amqp://lb.dc1/b'], [dc1, dc2])).toMatchObject({
      ok: false,
      reason: 'the URIs name different vhosts',
    });
    expect(clusterOfUris([], [dc1])).toMatchObject({ ok: false });
    expect(clusterOfUris(42, [dc1])).toMatchObject({ ok: false });
  });
});

describe('resourceName', () => {
  it('makes unique DNS labels', () => {
    const taken = new Set(['orders']);
    expect(resourceName('Orders', taken)).toBe('orders-2');
    expect(resourceName('up.from_dc1', taken)).toBe('up-from-dc1');
    expect(resourceName('***', taken)).toBe('imported');
    expect(resourceName('x'.repeat(80), taken)).toHaveLength(55);
  });
});
