import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BrokerGateway } from '../broker/broker-gateway';
import { BrokerError, BrokerNotFoundError } from '../broker/management.errors';
import { managementPaths, objectPath } from '../broker-topology/broker-paths';
import {
  decodePermissions,
  linkUserPermissions,
  type PermissionsModel,
} from '../broker-topology/user.codec';
import { ClustersService } from '../clusters/clusters.service';
import { linkUsername } from '../clusters/link-user-credentials';
import { AppConfig } from '../config/config.module';
import { declaredKey, topologyRepository } from '../topology/topology.repository';
import { preflightCluster } from './links.repository';
import { decidePreflight, type PreflightNeed, type PreflightResult } from './preflight';

/** One preflight per set of needs at most this often; status reads share the answer. */
const cacheMs = 5000;
/** Preflight reads are advice: a slow cluster gives "could not check", never a slow write. */
const maxTimeoutMs = 2000;

interface ClusterFacts {
  label: string;
  unchecked?: string;
  exists: Map<string, boolean>;
  permissions: Map<string, PermissionsModel | null>;
}

const key = (n: Pick<PreflightNeed, 'kind' | 'vhost' | 'name'>) =>
  `${n.kind}\u0000${n.vhost}\u0000${n.name}`;

/**
 * Reads what links need on the brokers with the clusters' admin credentials: read-only GETs,
 * bounded by a short timeout, cached and rate-limited, so a link's status can say it is blocked
 * while an object is missing and recover by itself once it exists.
 */
@Injectable()
export class LinkPreflightService {
  private readonly log = new Logger(LinkPreflightService.name);
  private readonly cache = new Map<string, { at: number; result: Promise<PreflightResult> }>();

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly env: AppConfig,
    private readonly broker: BrokerGateway,
  ) {}

  /** `fresh`: skip the cache (a write checks what it just asked for). */
  check(needs: PreflightNeed[], fresh = false): Promise<PreflightResult> {
    const k = JSON.stringify(needs);
    const now = Date.now();
    const hit = this.cache.get(k);
    if (!fresh && hit && now - hit.at < cacheMs) return hit.result;
    const result = this.run(needs);
    this.cache.set(k, { at: now, result });
    for (const [ck, v] of this.cache) if (now - v.at >= cacheMs) this.cache.delete(ck);
    return result;
  }

  private async run(needs: PreflightNeed[]): Promise<PreflightResult> {
    const byCluster = new Map<string, PreflightNeed[]>();
    for (const n of needs) byCluster.set(n.clusterId, [...(byCluster.get(n.clusterId) ?? []), n]);
    const facts = new Map<string, ClusterFacts>();
    await Promise.all(
      [...byCluster].map(async ([id, ns]) => facts.set(id, await this.read(id, ns))),
    );
    // Declared through crossdock: the next pass of that cluster creates it, so it counts as there.
    const declared = await topologyRepository.declared(
      this.ds.manager,
      needs.filter((n) => n.name !== ''),
    );
    const isDeclared = (n: PreflightNeed) =>
      declared.has(declaredKey(n.clusterId, n.kind, n.vhost, n.name));
    return decidePreflight(needs, {
      label: (id) => facts.get(id)?.label ?? id,
      unchecked: (id) => facts.get(id)?.unchecked,
      exists: (n) => (isDeclared(n) ? true : facts.get(n.clusterId)?.exists.get(key(n))),
      permissions: (id, vhost) => {
        const p = facts.get(id)?.permissions;
        return p?.has(vhost) ? p.get(vhost) : undefined;
      },
    });
  }

  private async read(clusterId: string, needs: PreflightNeed[]): Promise<ClusterFacts> {
    const row = await preflightCluster(this.ds, clusterId);
    const facts: ClusterFacts = {
      label: row ? `${row.site}/${row.name}` : clusterId,
      exists: new Map(),
      permissions: new Map(),
    };
    if (!row) return { ...facts, unchecked: 'the cluster is not registered' };
    try {
      const access = await this.clusters.access(clusterId);
      const client = this.broker.management(access, { timeoutMs: maxTimeoutMs });
      const user = linkUsername(this.env.LINK_USER_NAME, row.link_user_slot);
      const reads: Promise<void>[] = [];
      const seen = new Set<string>();
      for (const n of needs) {
        const k = key(n);
        if (n.name !== '' && !seen.has(k)) {
          seen.add(k);
          reads.push(
            client
              .request(
                'GET',
                objectPath({ kind: n.kind, vhost: n.vhost, name: n.name }),
                undefined,
                {
                  query: { disable_stats: 'true' },
                },
              )
              .then(
                () => void facts.exists.set(k, true),
                (err: unknown) => {
                  if (err instanceof BrokerNotFoundError) facts.exists.set(k, false);
                  else throw err;
                },
              ),
          );
        }
        if ((n.linkUser.length || n.declares === 'link-user') && !facts.permissions.has(n.vhost)) {
          facts.permissions.set(n.vhost, null);
          reads.push(
            client.request<unknown>('GET', managementPaths.permissions(n.vhost, user)).then(
              (raw) => void facts.permissions.set(n.vhost, decodePermissions(raw) ?? null),
              (err: unknown) => {
                // Not written yet: the next pass grants exactly what crossdock compiles.
                if (err instanceof BrokerNotFoundError)
                  facts.permissions.set(n.vhost, linkUserPermissions);
                else throw err;
              },
            ),
          );
        }
      }
      await Promise.all(reads);
      return facts;
    } catch (err) {
      // Advice only: whatever fails here (the broker, the cluster's credentials) never fails
      // the write or the status read that asked.
      if (err instanceof BrokerError) return { ...facts, unchecked: err.message };
      this.log.warn(
        `preflight of cluster ${clusterId} failed: ${err instanceof Error ? err.name : 'error'}`,
      );
      return { ...facts, unchecked: 'the check failed' };
    }
  }
}
