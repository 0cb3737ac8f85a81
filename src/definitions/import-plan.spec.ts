import type { ObservedObject } from '../reconciliation/broker-state';
import { planImport, type ImportInput } from './import-plan';

const me = {
  id: 'c2',
  name: 'dc2/main',
  siteId: 's2',
  vhosts: ['v'],
  addresses: [{ host: '10.2.0.1', port: 5672 }],
};
const dc1 = {
  id: 'c1',
  name: 'dc1/main',
  siteId: 's1',
  vhosts: ['v'],
  addresses: [{ host: 'dc1.link', port: 5672 }],
};
const twin = {
  id: 'c3',
  name: 'dc2/other',
  siteId: 's2',
  vhosts: ['v'],
  addresses: [{ host: 'twin', port: 5672 }],
};
const secret = 'hunter2-Zq9';

const upstream = (name: string, value: Record<string, unknown>): ObservedObject => ({
  kind: 'federation-upstream',
  vhost: 'v',
  name,
  value: { uri: `amqp://admin:${secret}@dc1.link:5672/v`, ...value },
});
const policy = (
  name: string,
  pattern: string,
  definition: Record<string, unknown>,
  applyTo = 'exchanges',
  priority = 0,
): ObservedObject => ({
  kind: 'policy',
  vhost: 'v',
  name,
  value: { pattern, definition, priority, 'apply-to': applyTo },
});

const input = (observed: ObservedObject[], extra: Partial<ImportInput> = {}): ImportInput => ({
  cluster: me,
  clusters: [me, dc1, twin],
  vhosts: ['v'],
  observed,
  owned: new Set(),
  takenNames: { policies: [], links: [], shovels: [] },
  ...extra,
});

describe('planImport', () => {
  it('adopts an upstream + its policy as an exchange link, hands both over, warns about credentials without echoing them', () => {
    const plan = planImport(
      input([
        upstream('from-dc1', { 'prefetch-count': 500, 'max-hops': 2, 'ack-mode': 'on-confirm' }),
        policy('fed-events', '^events$', { 'federation-upstream': 'from-dc1' }),
      ]),
    );
    expect(plan.resources).toEqual([
      expect.objectContaining({
        type: 'federation-link',
        name: 'from-dc1',
        kind: 'exchange',
        downstreamVhost: 'v',
        upstreamClusterId: 'c1',
        upstreamVhost: 'v',
        targets: ['events'],
        brokerUpstreamName: 'from-dc1',
        settings: { prefetchCount: 500, maxHops: 2, ackMode: 'on-confirm' },
        originals: [
          { kind: 'policy', vhost: 'v', name: 'fed-events' },
          { kind: 'federation-upstream', vhost: 'v', name: 'from-dc1' },
        ],
      }),
    ]);
    expect(plan.items.map((i) => [i.kind, i.name, i.action])).toEqual([
      ['federation-upstream', 'from-dc1', 'adopt'],
      ['policy', 'fed-events', 'adopt'],
    ]);
    expect(plan.warnings.map((w) => w.detail).join(' ')).toMatch(/carries credentials/);
    expect(plan.warnings.map((w) => w.detail).join(' ')).toMatch(
      /resource-cleanup-mode is not never yet: the stopping link deletes its upstream queue/,
    );
    const safe = planImport(
      input([
        upstream('from-dc1', { 'resource-cleanup-mode': 'never' }),
        policy('fed-events', '^events$', { 'federation-upstream': 'from-dc1' }),
      ]),
    );
    expect(safe.warnings.map((w) => w.detail).join(' ')).not.toMatch(/resource-cleanup-mode/);
    expect(JSON.stringify(plan)).not.toContain(secret);
  });

  it('adopts a queue upstream that names another upstream queue (upstream key queue)', () => {
    const plan = planImport(
      input([
        upstream('cega', { queue: 'to_fega' }),
        policy('fed-cega', '^from_cega$', { 'federation-upstream': 'cega' }, 'queues'),
      ]),
    );
    expect(plan.items.map((i) => [i.name, i.action])).toEqual([
      ['cega', 'adopt'],
      ['fed-cega', 'adopt'],
    ]);
    expect(plan.resources).toEqual([
      expect.objectContaining({
        type: 'federation-link',
        kind: 'queue',
        targets: ['from_cega'],
        upstreamObject: 'to_fega',
        brokerUpstreamName: 'cega',
      }),
    ]);
  });

  it('maps a prefix pattern, and refuses patterns it cannot express with the reason', () => {
    const plan = planImport(
      input([
        upstream('u1', {}),
        policy('by-prefix', '^orders\\.', { 'federation-upstream': 'u1' }, 'queues'),
        policy('sloppy', 'events', { 'federation-upstream': 'u1' }),
      ]),
    );
    expect(plan.resources).toEqual([
      expect.objectContaining({ kind: 'queue', targetPrefix: 'orders.' }),
    ]);
    const sloppy = plan.items.find((i) => i.name === 'sloppy');
    expect(sloppy).toMatchObject({ action: 'skip', reason: expect.stringMatching(/not anchored/) });
    // u1 is still used by a policy that stays: it is not handed over.
    expect(plan.items.find((i) => i.name === 'u1')).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/still used/),
    });
    expect(plan.resources[0].originals).toEqual([
      { kind: 'policy', vhost: 'v', name: 'by-prefix' },
    ]);
  });

  it('flags the implicit all set, apply-to all and ha-* over quorum queues, and skips what it cannot adopt', () => {
    const plan = planImport(
      input([
        upstream('u1', {}),
        policy('everything', '^audit$', { 'federation-upstream-set': 'all' }),
        policy('mirror', '^jobs', { 'ha-mode': 'all' }, 'all'),
        {
          kind: 'queue',
          vhost: 'v',
          name: 'jobs.q',
          value: { durable: true, auto_delete: false, arguments: { 'x-queue-type': 'quorum' } },
        },
        policy('both', '^x', { 'max-length': 1, 'alternate-exchange': 'ae' }, 'all'),
      ]),
    );
    const text = plan.warnings.map((w) => `${w.name}: ${w.detail}`).join('\n');
    expect(text).toMatch(/everything: federation-upstream-set all/);
    expect(text).toMatch(/mirror: apply-to all/);
    expect(text).toMatch(/mirror: ha-\* keys on a pattern that matches quorum queue\(s\) "jobs.q"/);
    expect(plan.items.find((i) => i.name === 'everything')).toMatchObject({ action: 'skip' });
    expect(plan.items.find((i) => i.name === 'both')).toMatchObject({ action: 'skip' });
    // apply-to all with queue-only keys narrows to queues.
    expect(plan.resources).toEqual([
      expect.objectContaining({ type: 'policy', name: 'mirror', applyTo: 'queues' }),
    ]);
    expect(plan.items.find((i) => i.name === 'u1')).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/no adoptable policy/),
    });
  });

  it('skips crossdock objects, same-site or unknown upstreams, and upstream keys it does not express', () => {
    const plan = planImport(
      input(
        [
          { ...upstream('owned', {}) },
          policy('crossdock.p.x.abc', '^a$', { 'federation-upstream': 'owned' }),
          { ...upstream('same-site', {}), value: { uri: 'amqp://twin/v' } },
          policy('p-same', '^b$', { 'federation-upstream': 'same-site' }),
          { ...upstream('nowhere', {}), value: { uri: 'amqp://nowhere.invalid' } },
          policy('p-nowhere', '^c$', { 'federation-upstream': 'nowhere' }),
          upstream('odd', { 'consumer-tag': 'renamed' }),
          policy('p-odd', '^d$', { 'federation-upstream': 'odd' }),
        ],
        { owned: new Set(['federation-upstream\u0001v\u0001owned']) },
      ),
    );
    const why = Object.fromEntries(plan.items.map((i) => [i.name, `${i.action}: ${i.reason}`]));
    expect(why).toMatchObject({
      owned: 'skip: already managed by crossdock',
      'crossdock.p.x.abc': 'skip: already managed by crossdock',
      'p-same': expect.stringMatching(/^skip: .*same site/),
      'p-nowhere': expect.stringMatching(/^skip: .*no registered cluster/),
      'p-odd': expect.stringMatching(/^skip: .*does not express.*consumer-tag/),
    });
    expect(plan.resources).toEqual([]);
  });

  it('adopts a dynamic shovel from a local queue to another site, and policies with their priority', () => {
    const plan = planImport(
      input([
        {
          kind: 'shovel',
          vhost: 'v',
          name: 'Outbox',
          value: {
            'src-uri': 'amqp:///v',
            'src-queue': 'outbox',
            'dest-uri': [`amqp://u:${secret}@dc1.link/v`],
            'dest-queue': 'inbox',
            'src-prefetch-count': 10,
            'ack-mode': 'on-confirm',
            'src-delete-after': 'never',
          },
        },
        policy('limits', '^orders\\.', { 'max-length': 1000 }, 'queues', 7),
      ]),
    );
    expect(plan.resources).toEqual([
      expect.objectContaining({
        type: 'policy',
        name: 'limits',
        priority: 7,
        pattern: '^orders\\.',
        definition: { 'max-length': 1000 },
      }),
      expect.objectContaining({
        type: 'shovel',
        name: 'outbox',
        sourceVhost: 'v',
        sourceQueue: 'outbox',
        destinationClusterId: 'c1',
        destinationQueue: 'inbox',
        settings: { prefetchCount: 10, ackMode: 'on-confirm', deleteAfter: 'never' },
      }),
    ]);
    expect(JSON.stringify(plan)).not.toContain(secret);
  });

  it('reports a link that an existing crossdock link already covers as a conflict', () => {
    const plan = planImport(
      input(
        [upstream('u1', {}), policy('fed', '^(events|audit)$', { 'federation-upstream': 'u1' })],
        {
          existing: {
            links: [
              {
                name: 'old',
                kind: 'exchange',
                downstreamVhost: 'v',
                targets: [],
                targetPrefix: 'aud',
              },
            ],
            shovels: [],
          },
        },
      ),
    );
    expect(plan.conflicts).toEqual([
      expect.objectContaining({
        name: 'fed',
        detail: expect.stringMatching(/"old" already federates/),
      }),
    ]);
  });
});
