import { decide, drainTimeoutMs, type DecideInput } from './overflow-decide';

const base = (over: Partial<DecideInput> = {}): DecideInput => ({
  enabled: true,
  state: 'inactive',
  since: 0,
  now: 10000,
  depth: 0,
  high: 1000,
  low: 100,
  minHoldMs: 2000,
  shovelPresent: false,
  gateClosed: null,
  spillIdle: null,
  ...over,
});

describe('overflow decisions', () => {
  it('activates one interval early when the growth would cross high before the next evaluation', () => {
    expect(decide(base({ depth: 700, projectedDepth: 1300 })).action).toBe('activate');
    expect(decide(base({ depth: 700, projectedDepth: 900 })).action).toBe('none');
    expect(decide(base({ depth: 50, projectedDepth: 5000 })).action).toBe('none');
  });

  it('activates at the high watermark, not below', () => {
    expect(decide(base({ depth: 999 }))).toMatchObject({ state: 'inactive', action: 'none' });
    // Started, not yet moving: `starting` until the spill has moved a message.
    expect(decide(base({ depth: 1000 }))).toMatchObject({ state: 'starting', action: 'activate' });
    const started = { state: 'starting' as const, shovelPresent: true, depth: 1500 };
    expect(decide(base(started))).toMatchObject({ state: 'starting', action: 'none' });
    expect(decide(base({ ...started, spillMoved: true }))).toMatchObject({
      state: 'active',
      action: 'none',
    });
  });

  it('holds between the watermarks (hysteresis) and for the minimum hold time', () => {
    const active = { state: 'active' as const, shovelPresent: true };
    expect(decide(base({ ...active, depth: 500 })).action).toBe('none');
    expect(decide(base({ ...active, depth: 50, since: 9000 })).state).toBe('active');
    expect(decide(base({ ...active, depth: 50 }))).toMatchObject({
      state: 'draining',
      action: 'none',
    });
  });

  it('stays active near empty while the spill still takes what local consumers cannot', () => {
    const busy = { state: 'active' as const, depth: 0, spillIdle: false };
    expect(decide(base({ ...busy, shovelPresent: true }))).toMatchObject({
      state: 'active',
      action: 'none',
    });
    expect(decide(base(busy)).action).toBe('rearm');
    const idle = base({ state: 'active', shovelPresent: true, depth: 50, spillIdle: true });
    expect(decide(idle)).toMatchObject({ state: 'draining', action: 'stop' });
    expect(decide(base({ state: 'active', depth: 0 }))).toMatchObject({
      state: 'draining',
      action: 'stop',
    });
  });

  it('re-arms a batch that ended by itself while the queue is still above low', () => {
    expect(decide(base({ state: 'active', depth: 700 }))).toMatchObject({ action: 'rearm' });
  });

  it('stops the spill shovel only on an empty queue (or after the drain timeout), then goes inactive', () => {
    expect(decide(base({ state: 'draining', shovelPresent: true, depth: 10 })).action).toBe('none');
    expect(decide(base({ state: 'draining', shovelPresent: true, depth: 0 })).action).toBe('stop');
    const late = base({
      state: 'draining',
      shovelPresent: true,
      depth: 10,
      now: drainTimeoutMs + 1,
    });
    expect(decide(late).action).toBe('stop');
    expect(decide(base({ state: 'draining', depth: 10 }))).toMatchObject({ state: 'inactive' });
    expect(decide(base({ state: 'draining', depth: 5000 })).action).toBe('activate');
  });

  it('suspends with the reason when the remote side is unhealthy, and never loses the state', () => {
    const gateClosed = 'remote link unhealthy: probes are not crossing the path';
    const stop = decide(base({ state: 'active', shovelPresent: true, depth: 5000, gateClosed }));
    expect(stop).toMatchObject({ state: 'suspended', action: 'stop' });
    expect(stop.reason).toContain('nothing is lost');
    expect(decide(base({ state: 'suspended', depth: 5000, gateClosed })).state).toBe('suspended');
    expect(decide(base({ state: 'suspended', depth: 5000 })).action).toBe('activate');
    expect(decide(base({ state: 'suspended', depth: 50, gateClosed })).state).toBe('inactive');
  });

  it('changes nothing when the depth cannot be read, and stops when disabled', () => {
    expect(decide(base({ state: 'active', depth: null }))).toMatchObject({
      state: 'active',
      action: 'none',
    });
    expect(decide(base({ enabled: false, state: 'active', shovelPresent: true })).action).toBe(
      'stop',
    );
  });

  it('is failing, never active, while the present spill moves nothing; keeps the shovel; active again once it moves', () => {
    const spillProblem = 'spill shovel terminated on dc1@h: needed a restart';
    const failing = decide(
      base({ state: 'active', shovelPresent: true, depth: 5000, spillIdle: true, spillProblem }),
    );
    expect(failing).toMatchObject({ state: 'failing', action: 'none' });
    expect(failing.reason).toContain(spillProblem);
    expect(
      decide(base({ state: 'failing', shovelPresent: true, depth: 5000, spillProblem })).state,
    ).toBe('failing');
    expect(
      decide(base({ state: 'failing', shovelPresent: true, depth: 5000, spillIdle: false })),
    ).toMatchObject({ state: 'failing', action: 'none' });
    expect(
      decide(
        base({
          state: 'failing',
          shovelPresent: true,
          depth: 5000,
          spillIdle: false,
          spillMoved: true,
        }),
      ),
    ).toMatchObject({ state: 'active', action: 'none' });
    // Below low with an idle spill it stops as an active one would; a closed gate still suspends.
    expect(
      decide(
        base({ state: 'failing', shovelPresent: true, depth: 10, spillIdle: true, spillProblem }),
      ),
    ).toMatchObject({ state: 'draining', action: 'stop' });
    expect(
      decide(
        base({
          state: 'failing',
          shovelPresent: true,
          depth: 5000,
          spillProblem,
          gateClosed: 'remote link unhealthy',
        }),
      ),
    ).toMatchObject({ state: 'suspended', action: 'stop' });
    // A failing spill that is gone is re-armed like a finished batch.
    expect(decide(base({ state: 'failing', depth: 5000, spillProblem }))).toMatchObject({
      state: 'active',
      action: 'rearm',
    });
  });
});
