import { BrokerProtocolError } from '../broker/management.errors';
import type { ManagementAlarm, ManagementResponse } from '../broker/management.types';
import { redactString } from '../common/logging/redact';

/**
 * The one reader of the management API's answers about a cluster's state (as opposed to the
 * objects crossdock writes, read by the codecs): overview, nodes, alarms, and the status lists
 * of federation links and shovels. Observation, probe broker facts, link status and link restart
 * all read them here. Pure; anything of the wrong shape is a failure with a reason, never a
 * half-believed answer (an empty list would read as "no links").
 */

export type NodeType = 'disc' | 'ram';

export interface ObservedNode {
  name: string;
  running: boolean;
  /** null when the broker did not say. */
  type: NodeType | null;
  /** Nodes this one is partitioned from. */
  partitions: string[];
  memAlarm: boolean;
  diskAlarm: boolean;
  /** From the node's enabled-plugins file; null when not reported (stopped nodes). */
  enabledPlugins: string[] | null;
}

export interface PluginsMissing {
  node: string;
  plugins: string[];
}

/** Plugins every crossdock-managed node needs (links, shovels and their status endpoints). */
export const requiredPlugins = [
  'rabbitmq_management',
  'rabbitmq_federation',
  'rabbitmq_federation_management',
  'rabbitmq_shovel',
  'rabbitmq_shovel_management',
] as const;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface OverviewFacts {
  rabbitmqVersion: string | null;
  erlangVersion: string | null;
  clusterName: string | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(v: unknown): string | null | undefined {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : undefined;
}

export function parseOverview(raw: unknown): Parsed<OverviewFacts> {
  if (!isObject(raw)) return { ok: false, reason: 'overview is not an object' };
  const rabbitmqVersion = optionalString(raw.rabbitmq_version);
  const erlangVersion = optionalString(raw.erlang_version);
  const clusterName = optionalString(raw.cluster_name);
  if (rabbitmqVersion === undefined || erlangVersion === undefined || clusterName === undefined) {
    return { ok: false, reason: 'overview has non-string version or cluster name fields' };
  }
  return { ok: true, value: { rabbitmqVersion, erlangVersion, clusterName } };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/**
 * GET /api/nodes elements. A stopped member carries only name, type, running and cluster_links,
 * so the running-only fields are optional; anything present must have the right type, otherwise
 * the whole list is treated as unknown rather than half-believed.
 */
export function parseNodes(raw: unknown): Parsed<ObservedNode[]> {
  if (!Array.isArray(raw)) return { ok: false, reason: 'nodes is not an array' };
  const out: ObservedNode[] = [];
  for (const [i, n] of raw.entries()) {
    const bad = (field: string): Parsed<ObservedNode[]> => ({
      ok: false,
      reason: `nodes[${i}] has an invalid ${field}`,
    });
    if (!isObject(n) || typeof n.name !== 'string' || n.name === '') return bad('name');
    if (typeof n.running !== 'boolean') return bad('running');
    if (n.type !== undefined && typeof n.type !== 'string') return bad('type');
    if (n.partitions !== undefined && !isStringArray(n.partitions)) return bad('partitions');
    if (n.mem_alarm !== undefined && typeof n.mem_alarm !== 'boolean') return bad('mem_alarm');
    if (n.disk_free_alarm !== undefined && typeof n.disk_free_alarm !== 'boolean') {
      return bad('disk_free_alarm');
    }
    if (n.enabled_plugins !== undefined && !isStringArray(n.enabled_plugins)) {
      return bad('enabled_plugins');
    }
    out.push({
      name: n.name,
      running: n.running,
      type: n.type === 'disc' || n.type === 'ram' ? (n.type as NodeType) : null,
      partitions: n.partitions ?? [],
      memAlarm: n.mem_alarm ?? false,
      diskAlarm: n.disk_free_alarm ?? false,
      enabledPlugins: n.enabled_plugins ?? null,
    });
  }
  return { ok: true, value: out };
}

/** 3.10 reports `memory` and `disk space`. */
export function alarmResource(resource: string): 'memory' | 'disk' | 'other' {
  if (/^mem/i.test(resource)) return 'memory';
  if (/disk/i.test(resource)) return 'disk';
  return 'other';
}

/**
 * /api/nodes alarm flags come from the stats database and lag seconds behind; the health check
 * is real time. A node is in alarm if either says so.
 */
export function mergeAlarms(
  nodes: ObservedNode[],
  alarms: ManagementAlarm[] | null,
): ObservedNode[] {
  if (!alarms?.length) return nodes;
  return nodes.map((n) => {
    const mine = alarms.filter((a) => a.node === n.name).map((a) => alarmResource(a.resource));
    return {
      ...n,
      memAlarm: n.memAlarm || mine.includes('memory'),
      diskAlarm: n.diskAlarm || mine.includes('disk'),
    };
  });
}

/** Only running nodes report their plugins; a stopped node is reported as not running instead. */
export function missingPlugins(
  nodes: ObservedNode[] | null,
  required: readonly string[] = requiredPlugins,
): PluginsMissing[] {
  const out: PluginsMissing[] = [];
  for (const n of nodes ?? []) {
    if (!n.running || n.enabledPlugins === null) continue;
    const enabled = new Set(n.enabledPlugins);
    const plugins = required.filter((p) => !enabled.has(p));
    if (plugins.length) out.push({ node: n.name, plugins });
  }
  return out;
}

type Row = Record<string, unknown>;

/**
 * A listing must be a list of objects carrying the fields callers key on, as strings: a row
 * without them would read as "no such link" (or as a link named ""). One bad row fails it all.
 */
function rows(
  v: unknown,
  what: string,
  required: readonly string[],
  oneOf: readonly string[] = [],
): Parsed<Row[]> {
  if (!Array.isArray(v)) return { ok: false, reason: `${what}: not a list` };
  for (const [i, r] of v.entries()) {
    if (!isObject(r)) return { ok: false, reason: `${what}: item ${i} is not an object` };
    for (const f of required)
      if (typeof r[f] !== 'string')
        return { ok: false, reason: `${what}: item ${i} lacks string "${f}"` };
    if (oneOf.length && !oneOf.some((f) => typeof r[f] === 'string'))
      return { ok: false, reason: `${what}: item ${i} lacks one of ${oneOf.join(', ')}` };
  }
  return { ok: true, value: v as Row[] };
}

const text = (v: unknown) =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
const optional = (v: unknown) => (typeof v === 'string' ? v : undefined);
/** Broker error text may echo URIs with credentials: scrubbed and bounded. */
const brokerText = (v: unknown) => (v ? redactString(text(v)).slice(0, 500) : undefined);

/** One running federation link as `GET /api/federation-links[/{vhost}]` lists it. */
export interface FederationLinkStatus {
  vhost: string;
  /** The upstream parameter's name. */
  upstream: string;
  /** The federated exchange or queue. */
  object: string;
  status: string;
  /** Redacted, at most 500 characters. */
  error?: string;
  node?: string;
  timestamp?: string;
  /** The broker's link id (restart). */
  id?: string;
}

/** Every row, in listing order (a link may run on several nodes: see uniqueFederationLinks). */
export function parseFederationLinks(raw: unknown): Parsed<FederationLinkStatus[]> {
  const r = rows(raw, 'federation links', ['vhost', 'upstream', 'status'], ['exchange', 'queue']);
  if (!r.ok) return r;
  return {
    ok: true,
    value: r.value.map((l) => ({
      vhost: text(l.vhost),
      upstream: text(l.upstream),
      object: text(l.exchange ?? l.queue),
      status: text(l.status) || 'unknown',
      error: brokerText(l.error),
      node: optional(l.node),
      timestamp: optional(l.timestamp),
      id: optional(l.id),
    })),
  };
}

/** One row per vhost, upstream and federated object (the first listed). */
export function uniqueFederationLinks(links: FederationLinkStatus[]): FederationLinkStatus[] {
  const seen = new Map<string, FederationLinkStatus>();
  for (const l of links) {
    const id = `${l.vhost}\u0000${l.upstream}\u0000${l.object}`;
    if (!seen.has(id)) seen.set(id, l);
  }
  return [...seen.values()];
}

/** One dynamic shovel as `GET /api/shovels[/{vhost}]` lists it. */
export interface ShovelStatus {
  vhost: string;
  name: string;
  state: string;
  /** Redacted, at most 500 characters. */
  reason?: string;
  node?: string;
  timestamp?: string;
}

/**
 * Deduplicated: 3.10 may list a shovel twice after an update from another node (one per vhost
 * and name), while it runs once.
 */
export function parseShovels(raw: unknown): Parsed<ShovelStatus[]> {
  const r = rows(raw, 'shovels', ['name']);
  if (!r.ok) return r;
  const seen = new Map<string, ShovelStatus>();
  for (const s of r.value) {
    const id = `${text(s.vhost)}\u0000${text(s.name)}`;
    if (seen.has(id)) continue;
    seen.set(id, {
      vhost: text(s.vhost),
      name: text(s.name),
      state: text(s.state) || 'unknown',
      reason: brokerText(s.reason),
      node: optional(s.node),
      timestamp: optional(s.timestamp),
    });
  }
  return { ok: true, value: [...seen.values()] };
}

const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** `GET /api/queues?columns=vhost,name,messages,consumers`. */
export function parseQueueDepths(
  raw: unknown,
): Parsed<{ vhost: string; name: string; messages: number | null; consumers: number | null }[]> {
  const r = rows(raw, 'queues', ['vhost', 'name']);
  if (!r.ok) return r;
  return {
    ok: true,
    value: r.value.map((q) => ({
      vhost: text(q.vhost),
      name: text(q.name),
      messages: count(q.messages),
      consumers: count(q.consumers),
    })),
  };
}

/** A `columns=vhost,name` listing of exchanges or queues. */
export function parseNames(
  raw: unknown,
  what: 'exchanges' | 'queues',
): Parsed<{ vhost: string; name: string }[]> {
  const r = rows(raw, what, ['vhost', 'name']);
  if (!r.ok) return r;
  return { ok: true, value: r.value.map((x) => ({ vhost: text(x.vhost), name: text(x.name) })) };
}

/**
 * The parsed body of a management answer, or the typed protocol error (`wrong-shape`, naming
 * what was expected and what was wrong) a caller reports as "unavailable".
 */
export function expectParsed<T>(
  res: ManagementResponse<unknown>,
  parse: (raw: unknown) => Parsed<T>,
  expected: string,
): T {
  const p = parse(res.body);
  if (p.ok) return p.value;
  throw new BrokerProtocolError(
    res.method,
    res.path,
    res.node,
    'wrong-shape',
    `expected ${expected} (${p.reason})`,
    res.attempts,
    res.status,
  );
}
