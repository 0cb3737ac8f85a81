import { compileProbeObjects, probePaths, probeVhost, takesPartInProbes } from './probe-topology';

const A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const B = 'bbbbbbbb-0000-4000-8000-00000000000b';

const input = (me: string) => ({
  clusterId: me,
  federationLinks: [
    {
      id: 'l1',
      downstreamClusterId: B,
      upstreamClusterId: A,
      settings: { prefetchCount: 50 },
      paused: false,
    },
    { id: 'l2', downstreamClusterId: B, upstreamClusterId: A, settings: {}, paused: false },
  ],
  shovels: [{ id: 's1', sourceClusterId: A, destinationClusterId: B, settings: {}, paused: false }],
  uris: (id: string) => [`amqp://u:p@${id.slice(0, 8)}:5672/${encodeURIComponent(probeVhost)}`],
});

describe('probe topology', () => {
  it('groups live links into one path per kind and ordered cluster pair', () => {
    const paths = probePaths(
      [
        { id: 'l1', fromClusterId: A, toClusterId: B, paused: false },
        { id: 'l2', fromClusterId: A, toClusterId: B, paused: false },
        { id: 'l3', fromClusterId: B, toClusterId: A, paused: true },
      ],
      [{ id: 's1', fromClusterId: A, toClusterId: B, paused: false }],
    );
    expect(paths).toEqual([
      {
        id: `federation:${A}:${B}`,
        kind: 'federation',
        fromClusterId: A,
        toClusterId: B,
        linkIds: ['l1', 'l2'],
      },
      { id: `shovel:${A}:${B}`, kind: 'shovel', fromClusterId: A, toClusterId: B, linkIds: ['s1'] },
    ]);
  });

  it('puts every probe object in crossdock’s own vhost, with the oldest link’s settings', () => {
    const down = compileProbeObjects(input(B));
    expect(new Set(down.objects.map((o) => o.vhost))).toEqual(new Set([probeVhost]));
    const up = down.objects.find((o) => o.kind === 'federation-upstream');
    expect(up?.value).toMatchObject({ 'prefetch-count': 50, 'max-hops': 1 });
    const policy = down.objects.find((o) => o.kind === 'policy');
    expect(policy?.value).toMatchObject({
      'apply-to': 'exchanges',
      definition: { 'federation-upstream': up?.name },
    });
    expect(
      new RegExp(String((policy?.value as { pattern: string }).pattern)).test(
        `crossdock.probe.fx.${A}.${B}`,
      ),
    ).toBe(true);
    expect(
      down.objects
        .filter((o) => o.kind === 'queue')
        .map((o) => o.name)
        .sort(),
    ).toEqual([`crossdock.probe.dq.${A}`, `crossdock.probe.fq.${A}`]);
    for (const o of down.objects) expect(o.owner.length).toBeLessThanOrEqual(80);
  });

  it('gives the source side its exchange, queue and shovel', () => {
    const src = compileProbeObjects(input(A));
    expect(src.objects.map((o) => `${o.kind} ${o.name}`).sort()).toEqual([
      `exchange crossdock.probe.fx.${A}.${B}`,
      `queue crossdock.probe.sq.${B}`,
      `shovel crossdock.probe.sh.${B}`,
    ]);
    const sh = src.objects.find((o) => o.kind === 'shovel')?.value as Record<string, unknown>;
    expect(sh['dest-queue']).toBe(`crossdock.probe.dq.${A}`);
    expect(sh['dest-queue-args']).toEqual(sh['src-queue-args']);
  });

  it('builds nothing for clusters outside every live link', () => {
    const other = { ...input('cccccccc-0000-4000-8000-00000000000c') };
    expect(compileProbeObjects(other).objects).toEqual([]);
    expect(takesPartInProbes(other)).toBe(false);
    expect(takesPartInProbes(input(A))).toBe(true);
  });
});
