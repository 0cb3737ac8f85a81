import {
  classifyLinkState,
  type LinkCause,
  type LinkFailureCode,
} from '../broker-topology/link-failure';

export type { LinkCause } from '../broker-topology/link-failure';

/**
 * The one verdict model behind a link's status (`GET /links/.../status`) and its health
 * (`GET /links/.../health`): the broker's own state of the link, the classified cause when it
 * is not running (or runs but cannot move data), and the sentence that explains any difference
 * between the broker's state and the data-plane verdict of the probes. Pure.
 */

/** What the broker says about the link, summed up over its broker links. */
export type BrokerLinkState = 'running' | 'partial' | 'down' | 'missing' | 'unknown';

/** The data-plane verdict (probes, alarms, backlog): the health states. */
export type DataPlaneState = 'healthy' | 'degraded' | 'down' | 'unknown';

/** One broker link as its status list shows it. */
export interface BrokerRow {
  object: string;
  status: string;
  error?: string;
}

/** A resource alarm on one of the link's clusters. */
export interface AlarmFact {
  side: 'upstream' | 'downstream' | 'source' | 'destination';
  cluster: string;
  node: string;
  alarm: string;
}

/** The causes the broker's status rows carry (rows that run carry none). */
export function brokerCauses(rows: readonly BrokerRow[]): LinkCause[] {
  const out: LinkCause[] = [];
  for (const r of rows) {
    if (r.status === 'running') continue;
    const f = classifyLinkState(r.status, r.error);
    if (f) out.push({ ...f, source: 'broker-status', link: r.object });
  }
  return out;
}

/**
 * Alarms that stop data: publishing into an alarmed cluster over the network blocks (a shovel's
 * destination), and an alarmed source or upstream cluster blocks the publishers that feed it.
 * Federation publishes downstream over an in-process connection that alarms do not block.
 */
export function alarmCauses(alarms: readonly AlarmFact[]): LinkCause[] {
  return alarms.map((a) => ({
    code: 'resource-alarm',
    detail: `${a.alarm} alarm on ${a.side} cluster ${a.cluster} (node ${a.node})${
      a.side === 'destination'
        ? ': the broker blocks the shovel publishing into it, while its status may still say running'
        : a.side === 'downstream'
          ? ''
          : ': publishers into it are blocked'
    }`,
    source: 'node-alarm',
    cluster: a.cluster,
  }));
}

/** The alarms that can stop the link's data (trap: federation is not blocked by a downstream alarm). */
export function blockingAlarms(alarms: readonly AlarmFact[]): AlarmFact[] {
  return alarms.filter((a) => a.side !== 'downstream');
}

/** Most telling first: what names an object or a refusal before what only says "it failed". */
const specificity: LinkFailureCode[] = [
  'access-refused',
  'not-found',
  'authentication-failed',
  'tls-failure',
  'precondition-failed',
  'connection-refused',
  'connection-reset',
  'timeout',
  'host-unreachable',
  'resource-alarm',
  'other',
  'restarting',
];

/** The cause a single field shows: the most specific one (a preflight finding before "restarting"). */
export function primaryCause(causes: readonly LinkCause[]): LinkCause | null {
  let best: LinkCause | null = null;
  for (const c of causes)
    if (!best || specificity.indexOf(c.code) < specificity.indexOf(best.code)) best = c;
  return best;
}

/** The broker's state from how many broker links it should run, lists, and runs. */
export function brokerLinkState(
  expected: number,
  observed: number,
  running: number,
): BrokerLinkState {
  if (expected > 0 && running >= expected) return 'running';
  if (running > 0) return 'partial';
  if (observed === 0 && expected > 0) return 'missing';
  return 'down';
}

export interface DivergenceInput {
  broker: BrokerLinkState | null;
  dataPlane: DataPlaneState | null;
  cause: LinkCause | null;
  /** The data plane's own reasons (health reason details), most severe first. */
  dataPlaneDetail?: string | null;
}

/**
 * Why the broker's state and the data-plane verdict differ, in one sentence; null when they
 * agree (running and healthy, not running and down) or one of them is not known.
 */
export function explainDivergence(i: DivergenceInput): string | null {
  const { broker, dataPlane, cause } = i;
  if (!broker || broker === 'unknown' || !dataPlane || dataPlane === 'unknown') return null;
  const brokerRuns = broker === 'running';
  if (brokerRuns && dataPlane === 'healthy') return null;
  if (!brokerRuns && dataPlane === 'down') return null;
  if (brokerRuns) {
    if (cause)
      return `the broker reports the link running, but data does not cross as it should (${dataPlane}): ${cause.detail}`;
    return `the broker reports the link running, but the data plane says ${dataPlane}${
      i.dataPlaneDetail ? `: ${i.dataPlaneDetail}` : ''
    } (a silently cut connection shows in the broker's status only after heartbeats fail)`;
  }
  return `probes still cross (${dataPlane}) while the broker reports the link ${broker}${
    cause ? `: ${cause.detail}` : ''
  } (probes travel the same clusters but not the link's own objects)`;
}
