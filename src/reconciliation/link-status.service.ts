import { Injectable } from '@nestjs/common';
import { managementPaths } from '../broker-topology/broker-paths';
import {
  expectParsed,
  parseFederationLinks,
  parseNames,
  parseShovels,
  uniqueFederationLinks,
} from '../broker-topology/broker-facts';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BrokerError, typedKind } from '../broker/management.errors';
import { managementClientFor } from '../clusters/cluster-client';
import { ClustersService } from '../clusters/clusters.service';
import { DomainException } from '../common/errors/domain.exception';
import { AppConfig } from '../config/config.module';
import { upstreamName, shovelName } from '../broker-topology/names';
import {
  checkVersion,
  federationRequirements,
  unmetText,
} from '../broker-topology/broker-versions';
import type { FederationSettings } from '../links/federation-link.entity';
import type { ShovelCompletion } from '../links/shovel.entity';
import type { DeleteBlock } from '../clusters/cluster.entity';
import { LinkPreflightService } from '../links/link-preflight.service';
import { federationNeeds, shovelNeeds, type PreflightNeed } from '../links/preflight';

export interface LinkStatus {
  id: string;
  name: string;
  generation: number;
  appliedGeneration: number;
  paused: boolean;
  /** How many broker links the registry implies, and how many the broker lists. */
  expectedLinks: number;
  observedLinks: number;
  broker: { node?: string; object: string; status: string; error?: string; timestamp?: string }[];
  /** Set when the broker could not be asked (or answered something unusable). */
  unavailable?: string;
  /** The typed reason: `unreachable`, `timeout`, `server`, `protocol/<problem>`, ... */
  unavailableKind?: string;
  /**
   * What the link needs and does not find (a missing queue or exchange on either end, a
   * permission the link user lacks), from a cached preflight: `blocked: destination queue "x"
   * missing on dc2/rabbit`. Gone as soon as the object exists.
   */
  blocked?: string;
  /** Why the reconciler does not apply the link: keys the cluster's RabbitMQ version does not know. */
  heldBack?: string;
  /** A one-shot shovel the broker removed once done (`completed`): when, and what it moved. */
  completedAt?: string;
  completion?: ShovelCompletion;
  /**
   * Passes stop at the mass-delete guard before removing this link's broker objects: why, and
   * the call that lets them proceed (`delete-blocked`).
   */
  deleteBlocked?: {
    clusterId: string;
    since: string;
    reason: string;
    runId: string;
    confirm: DeleteBlock['confirm'];
  };
  verdict:
    | 'running'
    | 'partial'
    | 'down'
    | 'paused'
    | 'not-applied'
    | 'held-back'
    | 'completed'
    | 'delete-blocked'
    | 'blocked'
    | 'unknown';
}

/**
 * The live state of a link from the broker's own status lists (cluster-wide, deduplicated),
 * next to what the registry expects. "running" here means the broker says so; whether data
 * actually crosses is the probes' job.
 */
@Injectable()
export class LinkStatusService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly env: AppConfig,
    private readonly preflight: LinkPreflightService,
  ) {}

  /**
   * Adds the preflight's `blocked` reason (cached, rate-limited); a link the broker does not run
   * then says why in its verdict. A preflight that cannot ask a cluster changes nothing.
   */
  private async withPreflight(status: LinkStatus, needs: PreflightNeed[]): Promise<LinkStatus> {
    const { blocked } = await this.preflight.check(needs);
    if (!blocked) return status;
    const stuck = status.verdict !== 'running' && status.verdict !== 'held-back';
    return { ...status, blocked, ...(stuck ? { verdict: 'blocked' as const } : {}) };
  }

  async federation(id: string): Promise<LinkStatus> {
    const [l] = (await this.ds.query(`SELECT * FROM federation_links WHERE id = $1`, [
      id,
    ])) as Record<string, unknown>[];
    const blocked = await this.blocked(`link:${id}`);
    if (blocked) return { ...(l ? this.base(l) : this.gone(id)), ...blocked };
    if (!l) throw DomainException.notFound('federation link', id);
    const plain = this.base(l);
    if (l.paused) return { ...plain, verdict: 'paused' };
    const access = await this.clusters.access(l.downstream_cluster_id as string);
    // The same check the compiler makes, by the version the last pass saw.
    const [site] = (await this.ds.query(`SELECT name FROM sites WHERE id = $1`, [
      access.cluster.siteId,
    ])) as { name: string }[];
    const version = access.cluster.brokerVersion;
    const tooOld = checkVersion(
      version,
      federationRequirements(l.settings as FederationSettings),
    ).tooOld;
    const base: LinkStatus = tooOld.length
      ? {
          ...plain,
          heldBack: `link ${l.name as string} is held back (not applied): ${tooOld
            .map((r) => unmetText(r, `${site?.name}/${access.cluster.name}`, version))
            .join('; ')}`,
        }
      : plain;
    const client = managementClientFor(access, this.env.BROKER_HTTP_TIMEOUT_MS);
    const vhost = l.downstream_vhost as string;
    try {
      const path = managementPaths.federationLinks(vhost);
      const upstream = upstreamName(
        l.name as string,
        l.broker_upstream_name as string | null | undefined,
      );
      const mine = uniqueFederationLinks(
        expectParsed(
          await client.send('GET', path),
          parseFederationLinks,
          'a list of federation links',
        ),
      ).filter((r) => r.upstream === upstream);
      let expected = (l.targets as string[]).length;
      if (l.target_prefix) {
        const kind = l.kind === 'exchange' ? 'exchanges' : 'queues';
        const objs = expectParsed(
          await client.send('GET', managementPaths.collection(kind, vhost), undefined, {
            query: { columns: 'vhost,name', disable_stats: 'true' },
          }),
          (raw) => parseNames(raw, kind),
          `a list of named ${kind}`,
        );
        expected = objs.filter((o) => o.name.startsWith(l.target_prefix as string)).length;
      }
      const broker = mine.map((r) => ({
        node: r.node,
        object: r.object,
        status: r.status,
        error: r.error,
        timestamp: r.timestamp,
      }));
      return this.withPreflight(
        {
          ...base,
          expectedLinks: expected,
          observedLinks: broker.length,
          broker,
          verdict: base.heldBack ? 'held-back' : this.verdict(base, expected, broker),
        },
        federationNeeds({
          kind: l.kind as 'exchange' | 'queue',
          downstream: { clusterId: l.downstream_cluster_id as string, vhost },
          upstream: {
            clusterId: l.upstream_cluster_id as string,
            vhost: l.upstream_vhost as string,
            exchange: l.kind === 'exchange' ? ((l.upstream_object as string | null) ?? null) : null,
            queue: l.kind === 'queue' ? ((l.upstream_object as string | null) ?? null) : null,
          },
          targets: l.target_prefix ? [] : (l.targets as string[]),
        }),
      );
    } catch (err) {
      if (err instanceof BrokerError)
        return {
          ...base,
          unavailable: err.message,
          unavailableKind: typedKind(err),
          verdict: base.heldBack ? 'held-back' : 'unknown',
        };
      throw err;
    }
  }

  async shovel(id: string): Promise<LinkStatus> {
    const [s] = (await this.ds.query(`SELECT * FROM shovels WHERE id = $1`, [id])) as Record<
      string,
      unknown
    >[];
    const blocked = await this.blocked(`shovel:${id}`);
    if (blocked) return { ...(s ? this.base(s) : this.gone(id)), ...blocked };
    if (!s) throw DomainException.notFound('shovel', id);
    const base = this.base(s);
    if (s.paused) return { ...base, verdict: 'paused' };
    if (s.completed_at instanceof Date)
      return {
        ...base,
        verdict: 'completed',
        completedAt: s.completed_at.toISOString(),
        completion: s.completion as ShovelCompletion,
      };
    const access = await this.clusters.access(s.source_cluster_id as string);
    const client = managementClientFor(access, this.env.BROKER_HTTP_TIMEOUT_MS);
    try {
      const rows = expectParsed(
        await client.send('GET', managementPaths.shovels(s.source_vhost as string)),
        parseShovels,
        'a list of shovels',
      );
      const mine = rows.filter((r) => r.name === shovelName(s.name as string)).slice(0, 1);
      const broker = mine.map((r) => ({
        node: r.node,
        object: r.name,
        status: r.state,
        error: r.reason,
        timestamp: r.timestamp,
      }));
      return this.withPreflight(
        {
          ...base,
          expectedLinks: 1,
          observedLinks: broker.length,
          broker,
          verdict: this.verdict(base, 1, broker),
        },
        shovelNeeds({
          settings:
            (s.settings as { declareDestination?: boolean } | null | undefined) ?? undefined,
          source: {
            clusterId: s.source_cluster_id as string,
            vhost: s.source_vhost as string,
            queue: s.source_queue as string | null,
            exchange: s.source_exchange as string | null,
          },
          destination: {
            clusterId: s.destination_cluster_id as string,
            vhost: s.destination_vhost as string,
            queue: s.destination_queue as string | null,
            exchange: s.destination_exchange as string | null,
          },
        }),
      );
    } catch (err) {
      if (err instanceof BrokerError)
        return {
          ...base,
          unavailable: err.message,
          unavailableKind: typedKind(err),
          verdict: 'unknown',
        };
      throw err;
    }
  }

  /**
   * The mass-delete block that holds back this owner's broker objects, if any. It also answers
   * for a row that is gone from the registry while its objects stay (rows removed by hand).
   */
  private async blocked(
    owner: string,
  ): Promise<Pick<LinkStatus, 'verdict' | 'deleteBlocked'> | null> {
    const [row] = (await this.ds.query(
      `SELECT id, delete_blocked FROM clusters
        WHERE delete_blocked IS NOT NULL AND delete_blocked -> 'owners' ? $1 ORDER BY seq LIMIT 1`,
      [owner],
    )) as { id: string; delete_blocked: DeleteBlock }[];
    if (!row) return null;
    const b = row.delete_blocked;
    return {
      verdict: 'delete-blocked',
      deleteBlocked: {
        clusterId: row.id,
        since: b.since,
        reason: b.reason,
        runId: b.runId,
        confirm: b.confirm,
      },
    };
  }

  private gone(id: string): LinkStatus {
    return {
      id,
      name: '(not in the registry)',
      generation: 0,
      appliedGeneration: 0,
      paused: false,
      expectedLinks: 0,
      observedLinks: 0,
      broker: [],
      verdict: 'unknown',
    };
  }

  private base(row: Record<string, unknown>): LinkStatus {
    return {
      id: row.id as string,
      name: row.name as string,
      generation: row.generation as number,
      appliedGeneration: row.applied_generation as number,
      paused: row.paused as boolean,
      expectedLinks: 0,
      observedLinks: 0,
      broker: [],
      verdict: 'unknown',
    };
  }

  private verdict(
    base: LinkStatus,
    expected: number,
    broker: LinkStatus['broker'],
  ): LinkStatus['verdict'] {
    if (base.appliedGeneration < base.generation) return 'not-applied';
    const running = broker.filter((b) => b.status === 'running').length;
    if (expected > 0 && running >= expected) return 'running';
    if (running > 0) return 'partial';
    return 'down';
  }
}
