import { BackgroundWork } from './background-work';

const tick = () => new Promise((r) => setImmediate(r));

describe('BackgroundWork', () => {
  it('runs one task per key, never waits for it, and keys do not hold each other', async () => {
    const errors: string[] = [];
    const work = new BackgroundWork((key) => errors.push(key));
    let release: () => void = () => undefined;
    const ran: string[] = [];
    work.start('path:a', () => new Promise<void>((r) => (release = r)));
    work.start('path:a', async () => void ran.push('a again'));
    work.start('path:b', async () => void ran.push('b'));
    await tick();
    expect(ran).toEqual(['b']);
    expect(work.busy('path:a')).toBe(true);
    expect(work.since('path:a')).toEqual(expect.any(Number));
    expect(work.busy('path:b')).toBe(false);
    release();
    await tick();
    expect(work.busy('path:a')).toBe(false);
    expect(ran).toEqual(['b']);
    work.start('path:c', () => Promise.reject(new Error('boom')));
    await tick();
    await tick();
    expect(errors).toEqual(['path:c']);
  });

  it('with `again`, a request that finds the key busy runs once more after it', async () => {
    const work = new BackgroundWork(() => undefined);
    let release: () => void = () => undefined;
    let runs = 0;
    const task = async () => {
      runs += 1;
      if (runs === 1) await new Promise<void>((r) => (release = r));
    };
    work.start('alarms:x', task, { again: true });
    work.start('alarms:x', task, { again: true });
    work.start('alarms:x', task, { again: true });
    await tick();
    expect(runs).toBe(1);
    release();
    for (let i = 0; i < 5; i++) await tick();
    expect(runs).toBe(2);
    expect(work.busy('alarms:x')).toBe(false);
  });

  it('stop waits for running tasks at most the given time and takes no more work', async () => {
    const work = new BackgroundWork(() => undefined);
    work.start('hung', () => new Promise<void>(() => undefined));
    const started = Date.now();
    await work.stop(50);
    expect(Date.now() - started).toBeLessThan(1000);
    let ran = false;
    work.start('later', async () => void (ran = true));
    await tick();
    expect(ran).toBe(false);
  });
});
