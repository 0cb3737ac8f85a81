import type { ManagementClient } from '../broker/management-client';
import { AlarmWatch } from './alarm-watch';
import { BackgroundWork } from './background-work';
import type { ClusterFacts } from './broker-facts';

const facts = (id: string, over: Partial<ClusterFacts> = {}): ClusterFacts => ({
  clusterId: id,
  readAt: 1000,
  alarms: [],
  federationLinks: [],
  shovels: [],
  queues: new Map(),
  exchanges: new Set(),
  ...over,
});

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

describe('AlarmWatch', () => {
  it('reads the live alarm check in the background and overrides the polled alarms', async () => {
    let alarms: { node: string; resource: string }[] = [{ node: 'rabbit@a', resource: 'memory' }];
    const client = {
      healthAlarms: async () => ({ body: { ok: alarms.length === 0, alarms } }),
    } as unknown as ManagementClient;
    let changes = 0;
    const watch = new AlarmWatch(
      new BackgroundWork(() => undefined),
      async () => client,
      () => (changes += 1),
    );
    watch.check('c1');
    await flush();
    expect(watch.inAlarm('c1')).toBe(true);
    expect(changes).toBe(1);
    const polled = new Map([
      ['c1', facts('c1')],
      ['c2', facts('c2', { error: 'not readable' })],
    ]);
    const applied = watch.apply(polled);
    expect(applied.get('c1')?.alarms).toEqual([{ node: 'rabbit@a', alarm: 'memory' }]);
    expect(applied.get('c2')?.error).toBe('not readable');
    // The same alarms again: no change reported.
    watch.check('c1');
    await flush();
    expect(changes).toBe(1);
    alarms = [];
    watch.check('c1');
    await flush();
    expect(watch.inAlarm('c1')).toBe(false);
    expect(changes).toBe(2);
  });

  it('keeps the newest reading by start time, whichever way it was read', () => {
    const watch = new AlarmWatch(
      new BackgroundWork(() => undefined),
      async () => ({}) as ManagementClient,
      () => undefined,
    );
    watch.record('c1', 2000, [{ node: 'rabbit@a', alarm: 'disk' }]);
    // A broker poll that started earlier and answered later does not win.
    watch.record('c1', 1500, []);
    expect(watch.inAlarm('c1')).toBe(true);
    watch.record('c1', 2500, []);
    expect(watch.inAlarm('c1')).toBe(false);
    watch.forget('c1');
    expect(watch.apply(new Map([['c1', facts('c1')]])).get('c1')?.alarms).toEqual([]);
  });
});
