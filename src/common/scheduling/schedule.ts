import type { SchedulerRegistry } from '@nestjs/schedule';

/**
 * The one way periodic work is scheduled: a named interval in Nest's SchedulerRegistry
 * (@nestjs/schedule), which lists it and clears it at shutdown. The timer does not keep the
 * process alive. `tick` handles its own errors (each periodic job logs and carries on).
 */
export function scheduleEvery(
  registry: SchedulerRegistry,
  name: string,
  everyMs: number,
  tick: () => Promise<void>,
): void {
  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  registry.addInterval(name, timer);
}

/** Stops a job scheduled with scheduleEvery; nothing when it is not (or no longer) scheduled. */
export function unschedule(registry: SchedulerRegistry, name: string): void {
  if (registry.doesExist('interval', name)) registry.deleteInterval(name);
}
