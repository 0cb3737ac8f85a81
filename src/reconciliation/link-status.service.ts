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
import { BrokerGateway } from '../broker/broker-gateway';
import { ClustersService } from '../clusters/clusters.service';
import { DomainException } from '../common/errors/domain.exception';
import { upstreamName, shovelName } from '../broker-topology/names';
import {
  checkVersion,
  federationRequirements,
  unmetText,
} from '../broker-topology/broker-versions';
import type { FederationSettings } from '../links/federation-link.entity';
import type { ShovelCompletion } from '../links/shovel.entity';
import type { DeleteBlock } from '../clusters/cluster.entity';
import { readAlarms } from '../probes/broker-facts';
import { HealthService } from '../probes/health.service';
import { LinkPreflight } from '../probes/link-preflight';
import {
  alarmCauses,
  blockingAlarms,
  brokerCauses,
  brokerLinkState,
  explainDivergence,
  primaryCause,
  type AlarmFact,
  type BrokerLinkState,
  type LinkCause,
} from '../probes/link-verdict';
import type { HealthState } from '../probes/link-health';

/** The data-plane verdict (the health endpoint's), next to the broker's view. */
export interface DataPlaneView {
  state: HealthState | 'completed';
  /** The health reasons' codes, most recent evaluation. */
  reasons: string[];
  evaluatedAt: string | null;
}
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
  broker: {
    node?: string;
    object: string;
    status: string;
    error?: string;
    timestamp?: string;
    /** The classified cause of a broker link that does not run. */
    cause?: LinkCause;
  }[];
  /** The broker's own state of the link (the shared verdict model, as health's `brokerState`). */
  brokerState?: BrokerLinkState;
  /**
   * Why the link does not run, or runs without moving data, classified: from the broker's
   * status, a node's resource alarm, or a check with the link user's credentials.
   */
  cause?: LinkCause;
  /** Resource alarms on the link's two clusters. */
  alarms?: AlarmFact[];
  /** The data-plane verdict of the health endpoint. */
  dataPlane?: DataPlaneView;
  /** Why `brokerState` and `dataPlane.state` differ; absent when they agree. */
  divergence?: string;
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
    private readonly gateway: BrokerGateway,
    private readonly health: HealthService,
    private readonly preflight: LinkPreflight,
    private readonly needs: LinkPreflightService,
  ) {}

  /**
   * Adds the preflight's `blocked` reason (cached, rate-limited); a link the broker does not run
   * then says why in its verdict. A preflight that cannot ask a cluster changes nothing.
   */
  private async withPreflight(status: LinkStatus, needs: PreflightNeed[]): Promise<LinkStatus> {
    const { blocked } = await this.needs.check(needs);
    if (!blocked) return status;
    const stuck = status.verdict !== 'running' && status.verdict !== 'held-back';
    return { ...status, blocked, ...(stuck ? { verdict: 'blocked' as const } : {}) };
  }

  /**
   * Adds the shared verdict model to a status read from the broker: broker state, classified
   * causes, alarms on both clusters, the data-plane verdict and the sentence that explains a
   * difference. A cluster whose alarms cannot be read is left out (the status still answers).
   */
  private async explain(
    status: LinkStatus,
    kind: 'federation' | 'shovel',
    sides: { clusterId: string; side: AlarmFact['side'] }[],
    preflight?: () => Promise<LinkCause | null>,
  ): Promise<LinkStatus> {
    const broker = status.broker.map((b) => {
      const [cause] = brokerCauses([b]);
      return cause ? { ...b, cause } : b;
    });
    const running = broker.filter((b) => b.status === 'running').length;
    const brokerState = brokerLinkState(status.expectedLinks, broker.length, running);
    const alarms: AlarmFact[] = [];
    await Promise.all(
      sides.map(async ({ clusterId, side }) => {
        try {
          const access = await this.clusters.access(clusterId);
          const client = this.gateway.management(access);
          for (const a of await readAlarms(client))
            alarms.push({ side, cluster: access.cluster.name, node: a.node, alarm: a.alarm });
        } catch {
          // alarms are context; a cluster that does not answer shows in `unavailable` or health
        }
      }),
    );
    const causes = broker.flatMap((b) => (b.cause ? [b.cause] : []));
    let cause = primaryCause(causes);
    if (brokerState !== 'running' && preflight && (!cause || cause.code === 'restarting')) {
      const found = await preflight();
      if (found) cause = primaryCause([...causes, found]);
    }
    if (!cause) cause = primaryCause(alarmCauses(blockingAlarms(alarms)));
    let dataPlane: DataPlaneView | undefined;
    try {
      const h = await this.health.link(kind, status.id);
      dataPlane = {
        state: h.state,
        reasons: h.reasons.map((r) => r.code),
        evaluatedAt: h.evaluatedAt,
      };
    } catch {
      dataPlane = undefined;
    }
    const divergence =
      dataPlane && dataPlane.state !== 'completed'
        ? explainDivergence({ broker: brokerState, dataPlane: dataPlane.state, cause })
        : null;
    return {
      ...status,
      broker,
      brokerState,
      ...(cause ? { cause } : {}),
      alarms,
      ...(dataPlane ? { dataPlane } : {}),
      ...(divergence ? { divergence } : {}),
    };
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
    const client = this.gateway.management(access);
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
      const explained = await this.explain(
        {
          ...base,
          expectedLinks: expected,
          observedLinks: broker.length,
          broker,
          verdict: base.heldBack ? 'held-back' : this.verdict(base, expected, broker),
        },
        'federation',
        [
          { clusterId: l.upstream_cluster_id as string, side: 'upstream' },
          { clusterId: l.downstream_cluster_id as string, side: 'downstream' },
        ],
      );
      return await this.withPreflight(
        explained,
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
    const client = this.gateway.management(access);
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
      const destination = await this.clusters.access(s.destination_cluster_id as string);
      const explained = await this.explain(
        {
          ...base,
          expectedLinks: 1,
          observedLinks: broker.length,
          broker,
          verdict: this.verdict(base, 1, broker),
        },
        'shovel',
        [
          { clusterId: s.source_cluster_id as string, side: 'source' },
          { clusterId: s.destination_cluster_id as string, side: 'destination' },
        ],
        () =>
          this.preflight.shovel(
            s.id as string,
            client,
            s.source_vhost as string,
            shovelName(s.name as string),
            destination.cluster.name,
            this.gateway.management(destination),
          ),
      );
      return await this.withPreflight(
        explained,
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
