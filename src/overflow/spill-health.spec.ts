import type { ShovelStatus } from '../broker-topology/broker-facts';
import { spillHealth, type SpillHealthInput } from './spill-health';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(t0 + ms).toISOString();
const status = (state: string, reason?: string): ShovelStatus => ({
  vhost: 'v',
  name: 'crossdock.ov.r',
  state,
  node: 'dc1@h',
  ...(reason ? { reason } : {}),
});
const input = (over: Partial<SpillHealthInput> = {}): SpillHealthInput => ({
  now: t0 + 60000,
  batch: { budget: 1000, startedAt: at(0), acked: 0, ackedChangedAt: at(0) },
  status: status('running'),
  progressed: false,
  depth: 5000,
  low: 100,
  startGraceMs: 5000,
  stallMs: 22000,
  ...over,
});

describe('spill health: active means moving', () => {
  it('a spill that acked since the last evaluation moves, whatever the broker says, and forgets old failures', () => {
    const batch = { ...input().batch, failure: { reason: 'x', since: at(1) } };
    expect(spillHealth(input({ progressed: true, status: status('terminated'), batch }))).toEqual({
      problem: null,
      failure: undefined,
    });
  });

  it('terminated: the broker reason at once, even in the start grace, and remembered', () => {
    const h = spillHealth(
      input({ now: t0 + 1000, status: status('terminated', 'needed a restart') }),
    );
    expect(h.problem).toBe('spill shovel terminated on dc1@h: needed a restart');
    expect(h.failure).toEqual({ reason: h.problem, since: at(1000) });
    // Between restarts it shows running for an instant: still failing, with the last reason.
    const again = spillHealth(
      input({
        now: t0 + 3000,
        status: status('running'),
        batch: { ...input().batch, failure: h.failure },
      }),
    );
    expect(again.problem).toMatch(
      /^spill shovel terminated on dc1@h: needed a restart \(last seen/,
    );
    expect(again.failure).toEqual(h.failure);
  });

  it('gives a new shovel its start grace, then names a missing or stuck status', () => {
    expect(spillHealth(input({ now: t0 + 2000, status: undefined })).problem).toBeNull();
    expect(spillHealth(input({ status: undefined })).problem).toMatch(/lists no status/);
    expect(spillHealth(input({ status: status('starting') })).problem).toMatch(
      /^spill shovel starting for 60 s/,
    );
    // An unreadable status list is no verdict of its own.
    expect(spillHealth(input({ status: null, depth: 50 })).problem).toBeNull();
  });

  it('running but no ack for the stall window while messages wait above low: not moving', () => {
    expect(spillHealth(input()).problem).toMatch(
      /moved nothing for 60 s while the queue holds 5000/,
    );
    expect(spillHealth(input({ depth: 50 })).problem).toBeNull();
    expect(
      spillHealth(input({ batch: { ...input().batch, acked: 10, ackedChangedAt: at(50000) } }))
        .problem,
    ).toBeNull();
  });
});
