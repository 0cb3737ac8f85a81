import { shovelName, upstreamName } from '../broker-topology/names';
import { queueKey, type ClusterFacts } from './broker-facts';
import type {
  AlarmView,
  BacklogView,
  BrokerLinkView,
  LinkHealthInput,
  LinkHealthVerdict,
} from './link-health';
import type { BrokerLinkState, LinkCause } from './link-verdict';
import type { LinkModel, ProbeModel } from './probe-model';

/** The values behind a verdict: what the API shows and what a transition's audit record keeps. */
export interface HealthValues {
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  probesInWindow: number;
  probesLost: number;
  oldestPendingMs: number | null;
  expectedLinks: number | null;
  observedLinks: number | null;
  runningLinks: number | null;
  alarms: AlarmView[];
  backlog: Omit<BacklogView, 'history'> | null;
  /** The shared verdict model (link-verdict.ts), lifted to the top of the health view. */
  brokerState?: BrokerLinkState | null;
  cause?: LinkCause | null;
  divergence?: string | null;
}

/** The values behind a verdict, from the input it was judged on. */
export function healthValues(input: LinkHealthInput, verdict: LinkHealthVerdict): HealthValues {
  return {
    lagP50Ms: round(input.path?.lagP50Ms),
    lagP95Ms: round(input.path?.lagP95Ms),
    probesInWindow: input.path?.sent ?? 0,
    probesLost: input.path?.lost ?? 0,
    oldestPendingMs: round(input.path?.oldestPendingMs),
    expectedLinks: input.broker?.expected ?? null,
    observedLinks: input.broker?.observed ?? null,
    runningLinks: input.broker?.running ?? null,
    alarms: input.alarms,
    backlog: input.backlog
      ? {
          messages: input.backlog.messages,
          ...(input.backlog.consumers !== undefined ? { consumers: input.backlog.consumers } : {}),
          maxStalenessMs: input.backlog.maxStalenessMs,
        }
      : null,
    brokerState: verdict.brokerState,
    cause: verdict.cause,
    divergence: verdict.divergence,
  };
}

/**
 * The broker's own view of a link, read on the cluster that runs it: the downstream for
 * federation, the source for a shovel.
 */
export function brokerLinkView(
  link: LinkModel,
  f: ClusterFacts | undefined,
): BrokerLinkView | null {
  if (!f || f.error) return null;
  if (link.kind === 'shovel') {
    const mine = f.shovels.filter(
      (s) => s.vhost === link.fromVhost && s.name === shovelName(link.name),
    );
    return {
      expected: 1,
      observed: mine.length,
      running: mine.filter((s) => s.state === 'running').length,
      problems: mine
        .filter((s) => s.state !== 'running')
        .map((s) => `${s.state}${s.reason ? ` (${s.reason})` : ''}`),
      rows: mine.map((s) => ({ object: s.name, status: s.state, error: s.reason })),
    };
  }
  const mine = f.federationLinks.filter(
    (l) => l.vhost === link.toVhost && l.upstream === upstreamName(link.name, link.brokerUpstream),
  );
  let expected = link.targets.length;
  if (link.targetPrefix !== null) {
    const prefix = `${link.toVhost}\u0000${link.targetPrefix}`;
    const names =
      link.federationKind === 'queue' ? [...f.queues.keys()] : [...f.exchanges.values()];
    expected = names.filter((n) => n.startsWith(prefix)).length;
  }
  return {
    expected,
    observed: mine.length,
    running: mine.filter((l) => l.status === 'running').length,
    problems: mine
      .filter((l) => l.status !== 'running')
      .map((l) => `${l.object}: ${l.status}${l.error ? ` (${l.error})` : ''}`),
    rows: mine.map((l) => ({ object: l.object, status: l.status, error: l.error })),
  };
}

/**
 * Messages waiting to cross, read on the side they wait on (`from`), with the consumers of a
 * shovel's source queue; null when there is nothing to read.
 */
export function backlogReading(
  link: LinkModel,
  model: ProbeModel,
  from: ClusterFacts | undefined,
): { messages: number | null; consumers?: number | null } | null {
  if (!from || from.error) return null;
  let messages: number | null = null;
  let consumers: number | null | undefined;
  if (link.kind === 'shovel') {
    if (!link.sourceQueue) return null;
    const q = from.queues.get(queueKey(link.fromVhost, link.sourceQueue));
    if (!q) return null;
    messages = q.messages;
    consumers = q.consumers;
  } else if (link.federationKind === 'queue') {
    const names = link.upstreamObject
      ? [link.upstreamObject]
      : link.targetPrefix !== null
        ? null
        : link.targets;
    for (const [k, q] of from.queues) {
      const [vhost, name] = k.split('\u0000');
      if (vhost !== link.fromVhost) continue;
      if (names ? !names.includes(name) : !name.startsWith(link.targetPrefix ?? '')) continue;
      messages = (messages ?? 0) + (q.messages ?? 0);
    }
  } else {
    const down = model.clusterName(link.toClusterId);
    for (const [k, q] of from.queues) {
      const [vhost, name] = k.split('\u0000');
      if (vhost !== link.fromVhost || !name.startsWith('federation: ')) continue;
      const rest = name.slice('federation: '.length);
      const hit = link.upstreamObject
        ? rest.startsWith(`${link.upstreamObject} -> ${down}`)
        : link.targetPrefix !== null
          ? rest.startsWith(link.targetPrefix) && rest.includes(` -> ${down}`)
          : link.targets.some((x) => rest.startsWith(`${x} -> ${down}`));
      if (hit) messages = (messages ?? 0) + (q.messages ?? 0);
    }
  }
  return { messages, consumers };
}

const round = (v: number | null | undefined) =>
  v === null || v === undefined ? null : Math.round(v * 10) / 10;
