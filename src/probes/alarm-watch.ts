import type { ManagementClient } from '../broker/management-client';
import type { BackgroundWork } from './background-work';
import { readAlarms, type ClusterFacts, type NodeAlarm } from './broker-facts';

/**
 * Resource alarms per cluster, followed faster than the broker poll. A read is asked for when
 * the broker blocks or unblocks crossdock's own probe connection (`connection.blocked`: the
 * loopback probe publishes on every cluster every interval, so an alarm shows on the next one),
 * and every probe interval while a cluster is blocked or in alarm (to see it change and clear);
 * otherwise alarms come with the broker poll. Every reading is the live alarm health check, and
 * the newest one started wins, whichever way it was asked for.
 */
export class AlarmWatch {
  private readonly readings = new Map<string, { startedAt: number; alarms: NodeAlarm[] }>();

  constructor(
    private readonly work: BackgroundWork,
    private readonly client: (clusterId: string) => Promise<ManagementClient>,
    /** Called when a cluster's alarms changed (the loop evaluates health at once then). */
    private readonly changed: () => void,
  ) {}

  /** Reads the cluster's alarms in the background (once more after a read already running). */
  check(clusterId: string): void {
    this.work.start(
      `alarms:${clusterId}`,
      async () => {
        const startedAt = Date.now();
        this.record(clusterId, startedAt, await readAlarms(await this.client(clusterId)));
      },
      { again: true },
    );
  }

  /** Keeps a reading unless a newer one is already known. */
  record(clusterId: string, startedAt: number, alarms: NodeAlarm[]): void {
    const cur = this.readings.get(clusterId);
    if (cur && cur.startedAt > startedAt) return;
    this.readings.set(clusterId, { startedAt, alarms });
    if (key(cur?.alarms ?? []) !== key(alarms)) this.changed();
  }

  inAlarm(clusterId: string): boolean {
    return (this.readings.get(clusterId)?.alarms.length ?? 0) > 0;
  }

  forget(clusterId: string): void {
    this.readings.delete(clusterId);
  }

  /**
   * The clusters' facts with each one's newest alarms (the broker poll records its own reading
   * here too; an unreadable cluster's facts stay as they are).
   */
  apply(facts: ReadonlyMap<string, ClusterFacts>): Map<string, ClusterFacts> {
    const out = new Map<string, ClusterFacts>();
    for (const [id, f] of facts) {
      const r = this.readings.get(id);
      out.set(id, r && !f.error ? { ...f, alarms: r.alarms } : f);
    }
    return out;
  }
}

const key = (alarms: readonly NodeAlarm[]) =>
  alarms
    .map((a) => `${a.node}\u0000${a.alarm}`)
    .sort()
    .join('\u0001');
