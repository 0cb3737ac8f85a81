import { Injectable } from '@nestjs/common';
import { BrokerGateway, type BrokerTarget } from '../broker/broker-gateway';
import { applyPlan, type ApplyHooks, type ApplyOptions, type ApplyResult } from './apply';
import { observeAccess, type AccessWant } from './access-plan';
import type { ObservedObject, ObservedState, Plan } from './broker-state';
import { connectionsOf, type BrokerConnection } from './link-user';
import { observeBrokerState } from './observe';

/**
 * What a reconcile pass and the link-user rotation do to one cluster's broker, by intention:
 * reads, and writes only as plan operations (`apply`).
 * `ClusterBrokers.open` gives the real one (over `BrokerGateway`); unit tests give a fake.
 */
export interface ClusterBroker {
  /** The managed vhosts' objects in a constant number of bulk GETs, with the broker version. */
  observe(vhosts: readonly string[]): Promise<ObservedState>;
  /** The access objects (probe vhost, link users, permissions) `want` names, as they are. */
  observeAccess(want: AccessWant): Promise<{ objects: ObservedObject[]; requests: number }>;
  /** The plan's operations, in stage order, with retries and the hooks around each batch. */
  apply(plan: Plan, hooks: ApplyHooks, options: ApplyOptions): Promise<ApplyResult>;
  /** Connections on the cluster that logged in as `username`. */
  connectionsOf(username: string): Promise<BrokerConnection[]>;
  /** A real AMQP login and a channel on each URI (TLS and allowed networks of the cluster). */
  verifyLogins(uris: string[]): Promise<void>;
}

@Injectable()
export class ClusterBrokers {
  constructor(private readonly gateway: BrokerGateway) {}

  /** The broker of a cluster; `writeGuard` runs before every write (the lock's lease check). */
  open(target: BrokerTarget, writeGuard?: () => Promise<void>): ClusterBroker {
    const client = this.gateway.management(target, writeGuard ? { writeGuard } : {});
    const gateway = this.gateway;
    return {
      observe: (vhosts) => observeBrokerState(client, vhosts, { version: true }),
      observeAccess: (want) => observeAccess(client, want),
      apply: (plan, hooks, options) => applyPlan(client, plan, hooks, options),
      connectionsOf: (username) => connectionsOf(client, username),
      verifyLogins: (uris) => gateway.verifyAmqpLogins(uris, target),
    };
  }
}
