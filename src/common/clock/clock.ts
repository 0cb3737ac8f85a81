import { Injectable } from '@nestjs/common';

/**
 * Time as the orchestrators read it (reconcile pass, probe loop, link-user rotation, overflow
 * engine), behind a seam so unit tests drive it. `now()` is wall-clock time (what is stored and
 * shown); `monotonic()` is for measuring durations and deadlines in this process (never goes
 * back).
 * The class is its own Nest provider token: inject `Clock`, provide `SystemClock` (or a fake).
 */
export abstract class Clock {
  /** Wall-clock time now. */
  abstract now(): Date;
  /** Wall-clock milliseconds since the epoch (`now().getTime()` without the Date). */
  abstract nowMs(): number;
  /** Milliseconds on this process's monotonic clock (`performance.now()`). */
  abstract monotonic(): number;
}

@Injectable()
export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }

  nowMs(): number {
    return Date.now();
  }

  monotonic(): number {
    return performance.now();
  }
}

/** The provider feature modules list: `providers: [clockProvider]`. */
export const clockProvider = { provide: Clock, useClass: SystemClock };
