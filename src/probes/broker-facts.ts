import type { ManagementClient } from '../broker/management-client';
import type { CertificateReading } from '../broker/tls-certificates';
import { redactString } from '../common/logging/redact';
import { alarmResource } from '../observation/observation.parse';

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

type Row = Record<string, unknown>;
/**
 * A listing must be a list of objects carrying the fields the health rules key on, as strings:
 * a row without them would read as "no such link" (or as a link named "") and a broken answer
 * as a healthy cluster. One bad row fails the whole read.
 */
const rows = (
  v: unknown,
  what: string,
  required: readonly string[],
  oneOf: readonly string[] = [],
): Row[] => {
  if (!Array.isArray(v)) throw new Error(`${what}: not a list`);
  v.forEach((r: unknown, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r))
      throw new Error(`${what}: item ${i} is not an object`);
    const row = r as Row;
    for (const f of required)
      if (typeof row[f] !== 'string') throw new Error(`${what}: item ${i} lacks string "${f}"`);
    if (oneOf.length && !oneOf.some((f) => typeof row[f] === 'string'))
      throw new Error(`${what}: item ${i} lacks one of ${oneOf.join(', ')}`);
  });
  return v as Row[];
};
const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? '' : String(v));
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

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
      want.federationLinks ? client.get<unknown>('/api/federation-links') : Promise.resolve([]),
      want.shovels ? client.get<unknown>('/api/shovels') : Promise.resolve([]),
      want.queues
        ? client.get<unknown>('/api/queues', {
            query: { columns: 'vhost,name,messages,consumers' },
          })
        : Promise.resolve([]),
      want.exchanges
        ? client.get<unknown>('/api/exchanges', {
            query: { columns: 'vhost,name', disable_stats: 'true' },
          })
        : Promise.resolve([]),
    ]);
    facts.alarms = alarms;
    const seenLinks = new Set<string>();
    for (const l of rows(
      links,
      'federation links',
      ['vhost', 'upstream', 'status'],
      ['exchange', 'queue'],
    )) {
      const object = str(l.exchange ?? l.queue);
      const id = `${str(l.vhost)}\u0000${str(l.upstream)}\u0000${object}`;
      if (seenLinks.has(id)) continue;
      seenLinks.add(id);
      facts.federationLinks.push({
        vhost: str(l.vhost),
        upstream: str(l.upstream),
        object,
        status: str(l.status) || 'unknown',
        error: l.error ? redactString(str(l.error)).slice(0, 300) : undefined,
      });
    }
    // 3.10 may list a shovel twice after an update from another node: one per vhost + name.
    const seenShovels = new Set<string>();
    for (const s of rows(shovels, 'shovels', ['name'])) {
      const id = `${str(s.vhost)}\u0000${str(s.name)}`;
      if (seenShovels.has(id)) continue;
      seenShovels.add(id);
      facts.shovels.push({
        vhost: str(s.vhost),
        name: str(s.name),
        state: str(s.state) || 'unknown',
        reason: s.reason ? redactString(str(s.reason)).slice(0, 300) : undefined,
      });
    }
    for (const q of rows(queues, 'queues', ['vhost', 'name']))
      facts.queues.set(qkey(str(q.vhost), str(q.name)), {
        messages: num(q.messages),
        consumers: num(q.consumers),
      });
    for (const x of rows(exchanges, 'exchanges', ['vhost', 'name']))
      facts.exchanges.add(qkey(str(x.vhost), str(x.name)));
  } catch (err) {
    return {
      ...facts,
      alarms: [],
      federationLinks: [],
      shovels: [],
      queues: new Map(),
      exchanges: new Set(),
      error: redactString(err instanceof Error ? err.message : 'cluster not readable'),
    };
  }
  return facts;
}
