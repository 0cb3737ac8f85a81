import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  expectParsed,
  parseFederationLinks,
  parseNames,
  parseShovels,
  uniqueFederationLinks,
} from '../broker-topology/broker-facts';
import { managementPaths } from '../broker-topology/broker-paths';
import {
  checkVersion,
  federationRequirements,
  unmetText,
} from '../broker-topology/broker-versions';
import { upstreamName, shovelName } from '../broker-topology/names';
import { BrokerError, typedKind } from '../broker/management.errors';
import { BrokerGateway } from '../broker/broker-gateway';
import { ClustersService } from '../clusters/clusters.service';
import { DomainException } from '../common/errors/domain.exception';
import type { FederationSettings } from '../links/federation-link.entity';
import { federationNeeds, shovelNeeds } from '../links/preflight';
import type { ShovelCompletion } from '../links/shovel.entity';
import { LinkPreflight } from '../probes/link-preflight';
import { brokerVerdict, goneStatus, registryStatus, type LinkStatus } from './link-status';
import { LinkStatusExplainer } from './link-status-explainer';
import {
  deleteBlockHolding,
  federationLinkRecord,
  shovelRecord,
  siteName,
} from './link-status.repository';

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
    private readonly preflight: LinkPreflight,
    private readonly explainer: LinkStatusExplainer,
  ) {}

  async federation(id: string): Promise<LinkStatus> {
    const l = await federationLinkRecord(this.ds, id);
    const blocked = await this.blocked(`link:${id}`);
    if (blocked) return { ...(l ? registryStatus(l) : goneStatus(id)), ...blocked };
    if (!l) throw DomainException.notFound('federation link', id);
    const plain = registryStatus(l);
    if (l.paused) return { ...plain, verdict: 'paused' };
    const access = await this.clusters.access(l.downstream_cluster_id as string);
    // The same check the compiler makes, by the version the last pass saw.
    const site = await siteName(this.ds, access.cluster.siteId);
    const version = access.cluster.brokerVersion;
    const tooOld = checkVersion(
      version,
      federationRequirements(l.settings as FederationSettings),
    ).tooOld;
    const base: LinkStatus = tooOld.length
      ? {
          ...plain,
          heldBack: `link ${l.name as string} is held back (not applied): ${tooOld
            .map((r) => unmetText(r, `${site}/${access.cluster.name}`, version))
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
      const explained = await this.explainer.explain(
        {
          ...base,
          expectedLinks: expected,
          observedLinks: broker.length,
          broker,
          verdict: base.heldBack ? 'held-back' : brokerVerdict(base, expected, broker),
        },
        'federation',
        [
          { clusterId: l.upstream_cluster_id as string, side: 'upstream' },
          { clusterId: l.downstream_cluster_id as string, side: 'downstream' },
        ],
      );
      return await this.explainer.withPreflight(
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
    const s = await shovelRecord(this.ds, id);
    const blocked = await this.blocked(`shovel:${id}`);
    if (blocked) return { ...(s ? registryStatus(s) : goneStatus(id)), ...blocked };
    if (!s) throw DomainException.notFound('shovel', id);
    const base = registryStatus(s);
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
      const explained = await this.explainer.explain(
        {
          ...base,
          expectedLinks: 1,
          observedLinks: broker.length,
          broker,
          verdict: brokerVerdict(base, 1, broker),
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
      return await this.explainer.withPreflight(
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
    const row = await deleteBlockHolding(this.ds, owner);
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
}
