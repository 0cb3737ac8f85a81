import {
  linkUserPermissions,
  linkUserPermissionsFor,
  regexLiteral,
  type PermissionsModel,
} from '../broker-topology/user.codec';
import {
  decidePreflight,
  federationNeeds,
  permits,
  shovelNeeds,
  type PreflightFacts,
  type PreflightNeed,
} from './preflight';

const linkUser: PermissionsModel = {
  configure: '^(federation: |amq\\.gen).*',
  write: '.*',
  read: '.*',
};

function facts(o: {
  missing?: string[];
  unchecked?: Record<string, string>;
  permissions?: PermissionsModel | null;
}): PreflightFacts {
  return {
    label: (id) => `site-${id}/rabbit`,
    unchecked: (id) => o.unchecked?.[id],
    exists: (n) => !(o.missing ?? []).includes(`${n.clusterId}:${n.kind}:${n.name}`),
    permissions: () => (o.permissions === undefined ? linkUser : o.permissions),
  };
}

const shovel = (
  dest: { queue?: string; exchange?: string },
  src: { queue?: string; exchange?: string } = { queue: 'orders' },
) =>
  shovelNeeds({
    source: { clusterId: 'dc1', vhost: 'v', queue: null, exchange: null, ...src },
    destination: { clusterId: 'dc2', vhost: 'v', queue: null, exchange: null, ...dest },
  });

describe('preflight decision', () => {
  it('everything present and permitted: no warning, not blocked', () => {
    expect(decidePreflight(shovel({ queue: 'landing' }), facts({}))).toEqual({
      warnings: [],
      blocked: null,
    });
  });

  it('a missing destination queue the link user may not declare blocks, naming queue and cluster', () => {
    const r = decidePreflight(
      shovel({ queue: 'landing' }),
      facts({ missing: ['dc2:queue:landing'] }),
    );
    expect(r.blocked).toBe('blocked: destination queue "landing" missing on site-dc2/rabbit');
    expect(r.warnings).toEqual([
      'destination queue "landing" missing on site-dc2/rabbit (the link user may not declare it: no configure permission on it)',
    ]);
  });

  it('a missing destination queue the link user may declare only warns', () => {
    const r = decidePreflight(
      shovel({ queue: 'landing' }),
      facts({
        missing: ['dc2:queue:landing'],
        permissions: { ...linkUser, configure: '^landing$' },
      }),
    );
    expect(r.blocked).toBeNull();
    expect(r.warnings[0]).toMatch(
      /destination queue "landing" missing on site-dc2\/rabbit: the link declares it/,
    );
  });

  it('a missing source queue is declared by the shovel itself (direct connection): warning only', () => {
    const r = decidePreflight(
      shovel({ queue: 'landing' }),
      facts({ missing: ['dc1:queue:orders'] }),
    );
    expect(r.blocked).toBeNull();
    expect(r.warnings).toEqual([
      'source queue "orders" missing on site-dc1/rabbit: the link declares it (classic, durable)',
    ]);
  });

  it('missing exchanges block: shovels and federation never declare them', () => {
    const r = decidePreflight(
      shovel({ exchange: 'in' }, { exchange: 'out' }),
      facts({ missing: ['dc1:exchange:out', 'dc2:exchange:in'] }),
    );
    expect(r.blocked).toBe('blocked: source exchange "out" missing on site-dc1/rabbit');
    expect(r.warnings).toHaveLength(2);
  });

  it('a permission the link user lacks blocks and names permission and object', () => {
    const r = decidePreflight(
      shovel({ exchange: 'in' }),
      facts({ permissions: { ...linkUser, write: '^other$' } }),
    );
    expect(r.blocked).toBe(
      'blocked: link user lacks write permission on exchange "in" (vhost v) on site-dc2/rabbit',
    );
  });

  it('publishing to a queue needs write on amq.default', () => {
    const r = decidePreflight(
      shovel({ queue: 'landing' }),
      facts({ permissions: { ...linkUser, write: '^landing$' } }),
    );
    expect(r.blocked).toMatch(/lacks write permission on exchange "amq.default"/);
  });

  it('no permissions at all in the vhost: everything the link does is lacking', () => {
    const r = decidePreflight(shovel({ exchange: 'in' }), facts({ permissions: null }));
    expect(r.blocked).toMatch(/lacks write permission on exchange "in"/);
  });

  it('an unreachable cluster gives one "could not check" warning and never blocks', () => {
    const r = decidePreflight(
      shovel({ queue: 'landing' }),
      facts({ unchecked: { dc2: 'timeout after 2000 ms' }, missing: ['dc2:queue:landing'] }),
    );
    expect(r).toEqual({
      warnings: ['could not check site-dc2/rabbit: timeout after 2000 ms'],
      blocked: null,
    });
  });

  it('federation checks the downstream target and the renamed upstream object, with read on it', () => {
    const needs = federationNeeds({
      kind: 'queue',
      downstream: { clusterId: 'dc1', vhost: 'v' },
      upstream: { clusterId: 'dc2', vhost: 'v', exchange: null, queue: 'to_fega' },
      targets: ['from_cega'],
    });
    expect(needs.map((n) => [n.role, n.clusterId, n.name, n.linkUser])).toEqual([
      ['downstream', 'dc1', 'from_cega', []],
      ['upstream', 'dc2', 'to_fega', ['read']],
    ]);
    expect(decidePreflight(needs, facts({ missing: ['dc2:queue:to_fega'] })).blocked).toBe(
      'blocked: upstream queue "to_fega" missing on site-dc2/rabbit',
    );
    expect(
      decidePreflight(needs, facts({ permissions: { ...linkUser, read: '^x$' } })).blocked,
    ).toMatch(/lacks read permission on queue "to_fega"/);
  });

  it('federation by prefix names no object: nothing to check', () => {
    expect(
      federationNeeds({
        kind: 'exchange',
        downstream: { clusterId: 'dc1', vhost: 'v' },
        upstream: { clusterId: 'dc2', vhost: 'v', exchange: null, queue: null },
        targets: [],
      }),
    ).toEqual([]);
  });

  it('permission patterns: empty denies, unreadable patterns are unknown', () => {
    expect(permits('', 'x')).toBe(false);
    expect(permits('.*', '')).toBe(true);
    expect(permits('(', 'x')).toBeUndefined();
    const need: PreflightNeed = {
      role: 'destination',
      kind: 'exchange',
      clusterId: 'dc2',
      vhost: 'v',
      name: 'in',
      linkUser: ['write'],
      declares: false,
    };
    expect(
      decidePreflight([need], facts({ permissions: { ...linkUser, write: '(' } })).blocked,
    ).toBeNull();
  });
});

describe('link-user permissions derived from the links', () => {
  it('without links that declare queues: the base (federation objects only)', () => {
    expect(linkUserPermissionsFor([])).toEqual(linkUserPermissions);
  });

  it('configure on exactly the destination queues shovels declare, names taken literally', () => {
    const p = linkUserPermissionsFor(['landing', 'a.b(c)', 'landing']);
    expect(p.write).toBe(linkUserPermissions.write);
    expect(p.read).toBe(linkUserPermissions.read);
    for (const ok of ['landing', 'a.b(c)', 'federation: x -> y', 'amq.gen-1'])
      expect(permits(p.configure, ok)).toBe(true);
    for (const no of ['landing2', 'xlanding', 'aXb(c)', 'abc', 'other'])
      expect(permits(p.configure, no)).toBe(false);
    expect(regexLiteral('a.b*[c]$')).toBe('a\\.b\\*\\[c\\]\\$');
  });

  it('a shovel with declareDestination: a missing destination queue warns and does not block', () => {
    const needs = shovelNeeds({
      settings: { declareDestination: true },
      source: { clusterId: 'dc1', vhost: 'v', queue: 'orders', exchange: null },
      destination: { clusterId: 'dc2', vhost: 'v', queue: 'landing', exchange: null },
    });
    const r = decidePreflight(needs, facts({ missing: ['dc2:queue:landing'] }));
    expect(r.blocked).toBeNull();
    expect(r.warnings).toEqual([
      'destination queue "landing" missing on site-dc2/rabbit: the link declares it (classic, durable)',
    ]);
  });
});
