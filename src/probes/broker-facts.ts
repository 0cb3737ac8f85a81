import type { ManagementClient } from '../broker/management-client';
import type { CertificateReading } from '../broker/tls-certificates';
import { managementPaths } from '../broker-topology/broker-paths';
import { redactString } from '../common/logging/redact';
import {
  alarmResource,
  parseFederationLinks,
  parseNames,
  parseQueueDepths,
  parseShovels,
  uniqueFederationLinks,
  type Parsed,
} from '../broker-topology/broker-facts';

/** A resource alarm in effect on one node (`memory`, `disk`, or the broker's own resource name). */
export interface NodeAlarm {
  node: string;
  alarm: string;
}

/** What the health evaluation reads from one cluster, in a few bulk GETs per poll. */
export interface ClusterFacts {
  clusterId: string;
  readAt: number;
  alarms: NodeAlarm[];
  federationLinks: {
    vhost: string;
    upstream: string;
    object: string;
    status: string;
    error?: string;
  }[];
  shovels: { vhost: string; name: string; state: string; reason?: string }[];
  queues: Map<string, { messages: number | null; consumers: number | null }>;
  exchanges: Set<string>;
  /** Set when the cluster could not be read (the other fields are empty then). */
  error?: string;
  /** The last readings of the certificates its TLS endpoints present (TLS clusters only). */
  certificates?: CertificateReading[];
}

export interface FactsWanted {
  federationLinks: boolean;
  shovels: boolean;
  queues: boolean;
  exchanges: boolean;
}

const qkey = (vhost: string, name: string) => `${vhost}\u0000${name}`;
export const queueKey = qkey;

/**
 * The cluster's resource alarms, live: `GET /api/health/checks/alarms` asks the alarm handler,
 * where the `mem_alarm` / `disk_free_alarm` flags of `/api/nodes` come from the statistics
 * database and lag up to one statistics interval (5 s) behind. One small request, cheap enough
 * to repeat every probe interval while a cluster is in alarm.
 */
export async function readAlarms(client: ManagementClient): Promise<NodeAlarm[]> {
  const res = await client.healthAlarms();
  return res.body.alarms.map((a) => {
    const kind = alarmResource(a.resource);
    return { node: a.node, alarm: kind === 'other' ? a.resource : kind };
  });
}

/**
 * Reads alarms always, and links, shovels, queue depths and exchange names when asked. A reply
 * that is not a list fails the whole read (an empty list would look like "no links").
 */
export async function readClusterFacts(
  clusterId: string,
  client: ManagementClient,
  want: FactsWanted,
): Promise<ClusterFacts> {
  const facts: ClusterFacts = {
    clusterId,
    readAt: Date.now(),
    alarms: [],
    federationLinks: [],
    shovels: [],
    queues: new Map(),
    exchanges: new Set(),
  };
  try {
    const [alarms, links, shovels, queues, exchanges] = await Promise.all([
      readAlarms(client),
      want.federationLinks
        ? client.get<unknown>(managementPaths.federationLinks())
        : Promise.resolve([]),
      want.shovels ? client.get<unknown>(managementPaths.shovels()) : Promise.resolve([]),
      want.queues
        ? client.get<unknown>(managementPaths.collection('queues'), {
            query: { columns: 'vhost,name,messages,consumers' },
          })
        : Promise.resolve([]),
      want.exchanges
        ? client.get<unknown>(managementPaths.collection('exchanges'), {
            query: { columns: 'vhost,name', disable_stats: 'true' },
          })
        : Promise.resolve([]),
    ]);
    facts.alarms = alarms;
    const ok = <T>(p: Parsed<T>): T => {
      if (!p.ok) throw new Error(p.reason);
      return p.value;
    };
    facts.federationLinks = uniqueFederationLinks(ok(parseFederationLinks(links))).map((l) => ({
      vhost: l.vhost,
      upstream: l.upstream,
      object: l.object,
      status: l.status,
      error: l.error?.slice(0, 300),
    }));
    facts.shovels = ok(parseShovels(shovels)).map((s) => ({
      vhost: s.vhost,
      name: s.name,
      state: s.state,
      reason: s.reason?.slice(0, 300),
    }));
    for (const q of ok(parseQueueDepths(queues)))
      facts.queues.set(qkey(q.vhost, q.name), { messages: q.messages, consumers: q.consumers });
    for (const x of ok(parseNames(exchanges, 'exchanges')))
      facts.exchanges.add(qkey(x.vhost, x.name));
  } catch (err) {
    return unreadableFacts(clusterId, err, facts.readAt);
  }
  return facts;
}

/** The facts of a cluster that could not be read: nothing known, and why (redacted). */
export function unreadableFacts(
  clusterId: string,
  err: unknown,
  readAt = Date.now(),
): ClusterFacts {
  return {
    clusterId,
    readAt,
    alarms: [],
    federationLinks: [],
    shovels: [],
    queues: new Map(),
    exchanges: new Set(),
    error: redactString(err instanceof Error ? err.message : 'cluster not readable'),
  };
}
