import type { DataSource } from 'typeorm';
import { ReconcileRunsRepository } from './reconcile-runs.repository';

/**
 * The `reconcile_requests` rows: a change that found its cluster busy asks for one follow-up
 * pass. A request keeps when its newest change was heard (database clock): a pass that started
 * reading the registry after that already covered it.
 */
export class FollowUpRequests {
  private readonly repo: ReconcileRunsRepository;

  constructor(ds: Pick<DataSource, 'query'>) {
    this.repo = new ReconcileRunsRepository(ds);
  }

  /** Records a request for a change heard `heardMsAgo` ms ago (idempotent). */
  async request(clusterId: string, heardMsAgo: number): Promise<void> {
    await this.repo.requestFollowUp(clusterId, Math.max(0, heardMsAgo));
  }

  /** Takes every request (a pass about to read the registry covers them): when it did. */
  async takeAll(clusterId: string): Promise<Date> {
    return this.repo.takeAllFollowUps(clusterId);
  }

  /** Takes the request, if any: due unless heard before `coveredFrom` (none: always due). */
  async takeDue(clusterId: string, coveredFrom?: Date): Promise<boolean> {
    return this.repo.takeDueFollowUp(clusterId, coveredFrom ?? null);
  }
}
