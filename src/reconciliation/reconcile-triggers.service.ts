import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Client } from 'pg';
import { changesChannel } from '../common/changes';
import { AppConfig } from '../config/config.module';
import { scheduleEvery, unschedule } from '../common/scheduling/schedule';
import {
  listenForClusterChanges,
  ReconcileClustersRepository,
} from './reconcile-clusters.repository';
import { ReconcilerService } from './reconciler.service';

/**
 * What starts a pass: committed registry changes (Postgres NOTIFY, so every replica hears them;
 * debounced, only the affected clusters), follow-ups, and a schedule that heals drift on every
 * cluster.
 *
 * A change whose pass finds the cluster busy (a pass already running here or in another
 * replica) is not dropped: it leaves a follow-up request in Postgres, then tries once more (the
 * holder may have finished in between). The holder takes the request after releasing the lock
 * and starts one follow-up pass at once, however many changes arrived (see docs/reconciliation.md,
 * Triggers).
 */
@Injectable()
export class ReconcileTriggersService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('ReconcileTriggers');
  private listener?: Client;
  /** Clusters changed since the last flush, and when (monotonic ms) each was last heard. */
  private pending = new Map<string, number>();
  private debounce?: NodeJS.Timeout;
  private stopped = false;
  private reconnect?: NodeJS.Timeout;
  private readonly followUps = new Set<string>();

  constructor(
    private readonly clusters: ReconcileClustersRepository,
    private readonly reconciler: ReconcilerService,
    private readonly scheduler: SchedulerRegistry,
    private readonly env: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.env.RECONCILE_ENABLED === 'true';
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.enabled) return;
    this.reconciler.onFollowUp = (id) => this.followUp(id);
    await this.listen();
    if (this.env.RECONCILE_INTERVAL_MS > 0) {
      scheduleEvery(this.scheduler, 'reconcile-drift', this.env.RECONCILE_INTERVAL_MS, () =>
        this.all('schedule'),
      );
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    unschedule(this.scheduler, 'reconcile-drift');
    this.reconciler.onFollowUp = undefined;
    clearTimeout(this.debounce);
    clearTimeout(this.reconnect);
    await this.listener?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const client = new Client({
      connectionString: this.env.DATABASE_URL,
      connectionTimeoutMillis: this.env.DB_CONNECT_TIMEOUT_MS,
    });
    client.on('error', () => this.scheduleReconnect());
    client.on('end', () => this.scheduleReconnect());
    client.on('notification', (msg) => {
      if (msg.channel !== changesChannel || !msg.payload) return;
      const heard = performance.now();
      for (const id of msg.payload.split(','))
        if (/^[0-9a-f-]{36}$/.test(id)) this.pending.set(id, heard);
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.flush(), this.env.RECONCILE_DEBOUNCE_MS);
    });
    try {
      await client.connect();
      await listenForClusterChanges(client);
      this.listener = client;
    } catch {
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnect) return;
    this.listener = undefined;
    // Changes missed while disconnected are caught by the drift schedule.
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      void this.listen();
    }, 2000);
    this.reconnect.unref();
  }

  private async flush(): Promise<void> {
    const heard = [...this.pending];
    this.pending.clear();
    await Promise.all(heard.map(([id, at]) => this.run(id, 'change', at)));
  }

  private async all(trigger: 'schedule'): Promise<void> {
    try {
      for (const id of await this.clusters.allIds()) await this.run(id, trigger);
    } catch (err) {
      this.logger.warn({ err }, 'scheduled reconcile skipped');
    }
  }

  /** One follow-up per cluster at a time, started as soon as the finished pass returns. */
  private followUp(clusterId: string): void {
    if (this.stopped || this.followUps.has(clusterId)) return;
    this.followUps.add(clusterId);
    setImmediate(() => {
      this.followUps.delete(clusterId);
      void this.run(clusterId, 'follow-up');
    });
  }

  /** `heardAt` (monotonic ms): when the change that asks for this pass was heard. */
  private async run(
    clusterId: string,
    trigger: 'change' | 'follow-up' | 'schedule',
    heardAt?: number,
    retried = false,
  ): Promise<void> {
    if (this.stopped) return;
    try {
      const run = await this.reconciler.reconcile(clusterId, { trigger });
      // A busy follow-up or schedule pass needs nothing: the holder started after the change
      // that caused it, or will take the request it left.
      if (run.status === 'busy' && trigger === 'change' && !retried) {
        await this.reconciler.requestFollowUp(
          clusterId,
          heardAt === undefined ? 0 : performance.now() - heardAt,
        );
        return await this.run(clusterId, trigger, heardAt, true);
      }
      if (run.status === 'failed' || run.status === 'blocked')
        this.logger.warn(
          { clusterId, runId: run.id, status: run.status, error: run.error },
          'reconcile pass did not converge',
        );
    } catch (err) {
      this.logger.warn({ err, clusterId }, 'reconcile pass errored');
    }
  }
}
