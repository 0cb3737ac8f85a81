import type { SchedulerRegistry } from '@nestjs/schedule';
import type { AppConfig } from '../config/config.module';
import type { ReconcileClustersRepository } from './reconcile-clusters.repository';
import { ReconcileTriggersService } from './reconcile-triggers.service';
import type { ReconcilerService, RunStatus, RunTrigger } from './reconciler.service';

/** A reconciler that answers the given statuses in turn and records what it was asked. */
function fakeReconciler(statuses: RunStatus[]) {
  const calls: RunTrigger[] = [];
  const requests: string[] = [];
  const fake = {
    onFollowUp: undefined as ((id: string) => void) | undefined,
    reconcile: jest.fn(async (_id: string, opts: { trigger: RunTrigger }) => {
      calls.push(opts.trigger);
      return { id: null, status: statuses.shift() ?? 'succeeded', error: null };
    }),
    requestFollowUp: jest.fn(async (id: string) => {
      requests.push(id);
    }),
  };
  return { fake, calls, requests };
}

function service(reconciler: ReturnType<typeof fakeReconciler>['fake']) {
  const svc = new ReconcileTriggersService(
    {} as ReconcileClustersRepository,
    reconciler as unknown as ReconcilerService,
    {} as SchedulerRegistry,
    { RECONCILE_ENABLED: 'true' } as AppConfig,
  );
  return svc as unknown as {
    run(id: string, trigger: 'change' | 'follow-up' | 'schedule'): Promise<void>;
    followUp(id: string): void;
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('ReconcileTriggersService', () => {
  it('a change that finds its cluster busy leaves a follow-up request, then tries once more', async () => {
    const r = fakeReconciler(['busy', 'succeeded']);
    await service(r.fake).run('c1', 'change');
    expect(r.requests).toEqual(['c1']);
    expect(r.calls).toEqual(['change', 'change']);
  });

  it('tries once more only once: still busy, the holder takes the request', async () => {
    const r = fakeReconciler(['busy', 'busy', 'succeeded']);
    await service(r.fake).run('c1', 'change');
    expect(r.requests).toEqual(['c1']);
    expect(r.calls).toEqual(['change', 'change']);
  });

  it('a busy follow-up or scheduled pass leaves no request', async () => {
    const r = fakeReconciler(['busy', 'busy']);
    const svc = service(r.fake);
    await svc.run('c1', 'follow-up');
    await svc.run('c1', 'schedule');
    expect(r.requests).toEqual([]);
  });

  it('coalesces follow-ups: one pass per cluster however often it is asked before it starts', async () => {
    const r = fakeReconciler([]);
    const svc = service(r.fake);
    svc.followUp('c1');
    svc.followUp('c1');
    svc.followUp('c2');
    await tick();
    await tick();
    expect(r.calls).toEqual(['follow-up', 'follow-up']);
    expect(r.fake.reconcile.mock.calls.map((c) => c[0]).sort()).toEqual(['c1', 'c2']);
    // Once started, the next request is a new follow-up.
    svc.followUp('c1');
    await tick();
    expect(r.calls).toHaveLength(3);
  });
});
