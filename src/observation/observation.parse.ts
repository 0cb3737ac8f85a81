import type { ManagementAlarm } from '../broker/management.types';
import type { NodeType, ObservedNode, PluginsMissing } from './observation.types';

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
