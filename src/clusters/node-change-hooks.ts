import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** Work another feature does, in the same transaction, when a cluster's nodes change. */
export interface NodeChangeHook {
  nodesChanged(m: EntityManager, clusterId: string): Promise<void>;
}

/**
 * Where features that depend on clusters (load balancers render the nodes into their config)
 * hook into node changes, so clusters/ does not depend on them: they register at module init.
 */
@Injectable()
export class NodeChangeHooks {
  private readonly hooks: NodeChangeHook[] = [];

  register(hook: NodeChangeHook): void {
    this.hooks.push(hook);
  }

  async nodesChanged(m: EntityManager, clusterId: string): Promise<void> {
    for (const hook of this.hooks) await hook.nodesChanged(m, clusterId);
  }
}
