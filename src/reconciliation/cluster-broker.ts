import { Injectable } from '@nestjs/common';
import { BrokerGateway, type BrokerTarget } from '../broker/broker-gateway';
import type { ManagementClient } from '../broker/management-client';
import { applyPlan, type ApplyHooks, type ApplyOptions, type ApplyResult } from './apply';
import type { ObservedState, Plan } from './broker-state';
import {
  connectionsOf,
  deleteLinkUser,
  ensureLinkUser,
  type BrokerConnection,
  type LinkUserResult,
} from './link-user';
import { observeBrokerState } from './observe';
import { ensureProbeVhost } from './probe-vhost';

/**
 * What a reconcile pass and the link-user rotation do to one cluster's broker, by intention.
 * `ClusterBrokers.open` gives the real one (over `BrokerGateway`); unit tests give a fake.
 */
export interface ClusterBroker {
  /** The managed vhosts' objects in a constant number of bulk GETs, with the broker version. */
  observe(vhosts: readonly string[]): Promise<ObservedState>;
  /** The probe vhost exists and crossdock's own user may use it. */
  ensureProbeVhost(adminUser: string): Promise<{ writes: number }>;
  /** The plan's operations, in stage order, with retries and the hooks around each batch. */
  apply(plan: Plan, hooks: ApplyHooks, options: ApplyOptions): Promise<ApplyResult>;
  /** `declares`: per vhost, the queues links declare there as the link user (configure on them). */
  ensureLinkUser(
    username: string,
    passwordHash: string,
    vhosts: string[],
    declares?: Record<string, string[]>,
  ): Promise<LinkUserResult>;
  deleteLinkUser(username: string): Promise<void>;
  /** Connections on the cluster that logged in as `username`. */
  connectionsOf(username: string): Promise<BrokerConnection[]>;
  /** A real AMQP login and a channel on each URI (TLS and allowed networks of the cluster). */
  verifyLogins(uris: string[]): Promise<void>;
  /** The management API itself, for the connecting-cluster refresh writes. */
  readonly management: ManagementClient;
}

@Injectable()
export class ClusterBrokers {
  constructor(private readonly gateway: BrokerGateway) {}

  /** The broker of a cluster; `writeGuard` runs before every write (the lock's lease check). */
  open(target: BrokerTarget, writeGuard?: () => Promise<void>): ClusterBroker {
    const client = this.gateway.management(target, writeGuard ? { writeGuard } : {});
    const gateway = this.gateway;
    return {
      management: client,
      observe: (vhosts) => observeBrokerState(client, vhosts, { version: true }),
      ensureProbeVhost: (adminUser) => ensureProbeVhost(client, adminUser),
      apply: (plan, hooks, options) => applyPlan(client, plan, hooks, options),
      ensureLinkUser: (username, hash, vhosts, declares) =>
        ensureLinkUser(client, username, hash, vhosts, declares),
      deleteLinkUser: (username) => deleteLinkUser(client, username),
      connectionsOf: (username) => connectionsOf(client, username),
      verifyLogins: (uris) => gateway.verifyAmqpLogins(uris, target),
    };
  }
}
