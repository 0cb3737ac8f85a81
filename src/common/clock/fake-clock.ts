import { Clock } from './clock';

/**
 * A clock tests move by hand: `advance(ms)` moves wall and monotonic time together. Not used by
 * application code.
 */
export class FakeClock extends Clock {
  private wall: number;
  private mono: number;

  constructor(start = Date.parse('2026-01-01T00:00:00.000Z'), monotonicStart = 1000) {
    super();
    this.wall = start;
    this.mono = monotonicStart;
  }

  now(): Date {
    return new Date(this.wall);
  }

  nowMs(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}
