import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { apiPath } from '../broker/management-client';
import { BrokerError } from '../broker/management.errors';
import { managementClientFor } from '../clusters/cluster-client';
import { ClustersService } from '../clusters/clusters.service';
import { DomainException } from '../common/errors/domain.exception';
import { redactString } from '../common/logging/redact';
import { AppConfig } from '../config/config.module';
import { upstreamName, shovelName } from './compile';

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
  /** Set when the broker could not be asked. */
  unavailable?: string;
  verdict: 'running' | 'partial' | 'down' | 'paused' | 'not-applied' | 'unknown';
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
  ) {}

  async federation(id: string): Promise<LinkStatus> {
    const [l] = (await this.ds.query(`SELECT * FROM federation_links WHERE id = $1`, [
      id,
    ])) as Record<string, unknown>[];
    if (!l) throw DomainException.notFound('federation link', id);
    const base = this.base(l);
    if (l.paused) return { ...base, verdict: 'paused' };
    const access = await this.clusters.access(l.downstream_cluster_id as string);
    const client = managementClientFor(access, this.env.BROKER_HTTP_TIMEOUT_MS);
    const vhost = l.downstream_vhost as string;
    try {
      const rows = await client.get<
        {
          upstream?: string;
          exchange?: string;
          queue?: string;
          status?: string;
          error?: string;
          node?: string;
          timestamp?: string;
        }[]
      >(apiPath`/api/federation-links/${vhost}`);
      const mine = rows.filter(
        (r) =>
          r.upstream ===
          upstreamName(l.name as string, l.broker_upstream_name as string | null | undefined),
      );
      const unique = new Map(mine.map((r) => [`${r.exchange ?? r.queue}`, r]));
      let expected = (l.targets as string[]).length;
      if (l.target_prefix) {
        const kind = l.kind === 'exchange' ? 'exchanges' : 'queues';
        const objs = await client.get<{ name: string }[]>(apiPath`/api/${kind}/${vhost}`, {
          query: { columns: 'name', disable_stats: 'true' },
        });
        expected = objs.filter((o) => o.name.startsWith(l.target_prefix as string)).length;
      }
      const broker = [...unique.values()].map((r) => ({
        node: r.node,
        object: String(r.exchange ?? r.queue ?? ''),
        status: String(r.status ?? 'unknown'),
        error: r.error ? redactString(String(r.error)).slice(0, 500) : undefined,
        timestamp: r.timestamp,
      }));
      return {
        ...base,
        expectedLinks: expected,
        observedLinks: broker.length,
        broker,
        verdict: this.verdict(base, expected, broker),
      };
    } catch (err) {
      if (err instanceof BrokerError)
        return { ...base, unavailable: err.message, verdict: 'unknown' };
      throw err;
    }
  }

  async shovel(id: string): Promise<LinkStatus> {
    const [s] = (await this.ds.query(`SELECT * FROM shovels WHERE id = $1`, [id])) as Record<
      string,
      unknown
    >[];
    if (!s) throw DomainException.notFound('shovel', id);
    const base = this.base(s);
    if (s.paused) return { ...base, verdict: 'paused' };
    const access = await this.clusters.access(s.source_cluster_id as string);
    const client = managementClientFor(access, this.env.BROKER_HTTP_TIMEOUT_MS);
    try {
      const rows = await client.get<
        {
          name?: string;
          vhost?: string;
          state?: string;
          reason?: string;
          node?: string;
          timestamp?: string;
        }[]
      >(apiPath`/api/shovels/${s.source_vhost as string}`);
      // 3.10 can list a shovel twice after an update from another node: one per vhost+name.
      const mine = rows.filter((r) => r.name === shovelName(s.name as string)).slice(0, 1);
      const broker = mine.map((r) => ({
        node: r.node,
        object: String(r.name),
        status: String(r.state ?? 'unknown'),
        error: r.reason ? redactString(String(r.reason)).slice(0, 500) : undefined,
        timestamp: r.timestamp,
      }));
      return {
        ...base,
        expectedLinks: 1,
        observedLinks: broker.length,
        broker,
        verdict: this.verdict(base, 1, broker),
      };
    } catch (err) {
      if (err instanceof BrokerError)
        return { ...base, unavailable: err.message, verdict: 'unknown' };
      throw err;
    }
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
