import type { ShovelSettings } from './link-settings';
import { intIn, isAckMode, isRec, uriList, type Rec } from './codec';
import { linkDefaults } from './defaults';

/** A dynamic `shovel` runtime parameter (AMQP 0-9-1 at both ends) in crossdock's terms. */
export interface ShovelModel {
  sourceUris: string[];
  sourceQueue?: string;
  /** Arguments the shovel declares its source queue with (must match the queue's, or it fails). */
  sourceQueueArgs?: Rec;
  sourceExchange?: string;
  sourceExchangeKey?: string;
  /** Arguments of the shovel's consumer (e.g. `x-priority`). */
  consumerArgs?: Rec;
  destinationUris: string[];
  destinationQueue?: string;
  destinationQueueArgs?: Rec;
  destinationExchange?: string;
  destinationExchangeKey?: string;
  settings: ShovelSettings;
}

/**
 * The settings as crossdock writes them: every one explicit. `declareDestination` is not a
 * broker key (the shovel always declares a missing queue; permissions decide whether it may).
 */
export function resolvedShovelSettings(
  st: ShovelSettings,
): Required<Omit<ShovelSettings, 'declareDestination'>> {
  return {
    ackMode: st.ackMode ?? linkDefaults.ackMode,
    prefetchCount: st.prefetchCount ?? linkDefaults.prefetchCount,
    reconnectDelaySeconds: st.reconnectDelaySeconds ?? linkDefaults.reconnectDelaySeconds,
    deleteAfter: st.deleteAfter ?? linkDefaults.deleteAfter,
    addForwardHeaders: st.addForwardHeaders ?? linkDefaults.addForwardHeaders,
    addTimestampHeader: st.addTimestampHeader ?? linkDefaults.addTimestampHeader,
  };
}

export function encodeShovel(m: ShovelModel): Rec {
  const st = resolvedShovelSettings(m.settings);
  const v: Rec = {
    'src-protocol': 'amqp091',
    'src-uri': m.sourceUris,
    'dest-protocol': 'amqp091',
    'dest-uri': m.destinationUris,
    'ack-mode': st.ackMode,
    'src-prefetch-count': st.prefetchCount,
    'reconnect-delay': st.reconnectDelaySeconds,
    'src-delete-after': st.deleteAfter,
    'dest-add-forward-headers': st.addForwardHeaders,
    'dest-add-timestamp-header': st.addTimestampHeader,
  };
  if (m.sourceQueue) v['src-queue'] = m.sourceQueue;
  if (m.sourceQueueArgs) v['src-queue-args'] = m.sourceQueueArgs;
  if (m.sourceExchange) {
    v['src-exchange'] = m.sourceExchange;
    if (m.sourceExchangeKey !== undefined) v['src-exchange-key'] = m.sourceExchangeKey;
  }
  if (m.consumerArgs) v['src-consumer-args'] = m.consumerArgs;
  if (m.destinationQueue) v['dest-queue'] = m.destinationQueue;
  if (m.destinationQueueArgs) v['dest-queue-args'] = m.destinationQueueArgs;
  if (m.destinationExchange) {
    v['dest-exchange'] = m.destinationExchange;
    if (m.destinationExchangeKey !== undefined) v['dest-exchange-key'] = m.destinationExchangeKey;
  }
  return v;
}

/** Keys a user's shovel (a crossdock shovel resource) can carry. */
export const linkShovelKeys: ReadonlySet<string> = new Set([
  'src-protocol',
  'dest-protocol',
  'src-uri',
  'dest-uri',
  'src-queue',
  'src-exchange',
  'src-exchange-key',
  'dest-queue',
  'dest-exchange',
  'dest-exchange-key',
  'ack-mode',
  'src-prefetch-count',
  'reconnect-delay',
  'src-delete-after',
  'dest-add-forward-headers',
  'dest-add-timestamp-header',
]);

/** Every key the codec reads: crossdock's own shovels (probes, overflow) also set these. */
export const allShovelKeys: ReadonlySet<string> = new Set([
  ...linkShovelKeys,
  'src-queue-args',
  'src-consumer-args',
  'dest-queue-args',
]);

/**
 * Where decoding stops: `keys` (keys outside `allowed`, or a protocol other than AMQP 0-9-1),
 * `values` (a value outside the range crossdock accepts), `shape` (not exactly one source,
 * or two destinations). Callers that check the URIs in between can keep that order.
 */
export type ShovelDecoded =
  | { ok: true; model: ShovelModel }
  | { ok: false; stage: 'keys' | 'values' | 'shape'; reason: string };

export function decodeShovel(
  value: unknown,
  allowed: ReadonlySet<string> = allShovelKeys,
): ShovelDecoded {
  const v = isRec(value) ? value : {};
  const extra = Object.keys(v).filter((k) => !allowed.has(k));
  if (extra.length)
    return {
      ok: false,
      stage: 'keys',
      reason: `shovel keys crossdock does not express: ${extra.sort().join(', ')}`,
    };
  for (const k of ['src-protocol', 'dest-protocol'])
    if (v[k] !== undefined && v[k] !== 'amqp091')
      return { ok: false, stage: 'keys', reason: `${k} is not amqp091` };
  const str = (k: string) => (typeof v[k] === 'string' ? v[k] : undefined);
  const rec = (k: string) => (isRec(v[k]) ? v[k] : undefined);
  const settings: ShovelSettings = {};
  const bad: string[] = [];
  const ack = v['ack-mode'];
  if (ack !== undefined) {
    if (isAckMode(ack)) settings.ackMode = ack;
    else bad.push('ack-mode');
  }
  const pf = v['src-prefetch-count'];
  if (pf !== undefined) {
    if (intIn(pf, 1, 65535)) settings.prefetchCount = pf;
    else bad.push('src-prefetch-count');
  }
  const rd = v['reconnect-delay'];
  if (rd !== undefined) {
    if (intIn(rd, 0, 3600)) settings.reconnectDelaySeconds = rd;
    else bad.push('reconnect-delay');
  }
  const da = v['src-delete-after'];
  if (da !== undefined) {
    if (da === 'never' || da === 'queue-length' || intIn(da, 1, Number.MAX_SAFE_INTEGER))
      settings.deleteAfter = da;
    else bad.push('src-delete-after');
  }
  for (const [k, f] of [
    ['dest-add-forward-headers', 'addForwardHeaders'],
    ['dest-add-timestamp-header', 'addTimestampHeader'],
  ] as const) {
    if (v[k] === undefined) continue;
    if (typeof v[k] === 'boolean') settings[f] = v[k];
    else bad.push(k);
  }
  for (const k of ['src-queue-args', 'src-consumer-args', 'dest-queue-args'])
    if (v[k] !== undefined && !isRec(v[k])) bad.push(k);
  if (bad.length)
    return {
      ok: false,
      stage: 'values',
      reason: `values crossdock does not accept: ${bad.join(', ')}`,
    };
  if (!str('src-queue') === !str('src-exchange'))
    return { ok: false, stage: 'shape', reason: 'needs exactly one of src-queue or src-exchange' };
  if (str('dest-queue') && str('dest-exchange'))
    return { ok: false, stage: 'shape', reason: 'has both dest-queue and dest-exchange' };
  const model: ShovelModel = {
    sourceUris: uriList(v['src-uri']),
    destinationUris: uriList(v['dest-uri']),
    settings,
  };
  const set = <K extends keyof ShovelModel>(k: K, x: ShovelModel[K] | undefined) => {
    if (x !== undefined) model[k] = x;
  };
  set('sourceQueue', str('src-queue') || undefined);
  set('sourceQueueArgs', rec('src-queue-args'));
  set('sourceExchange', str('src-exchange') || undefined);
  set('sourceExchangeKey', str('src-exchange-key'));
  set('consumerArgs', rec('src-consumer-args'));
  set('destinationQueue', str('dest-queue') || undefined);
  set('destinationQueueArgs', rec('dest-queue-args'));
  set('destinationExchange', str('dest-exchange') || undefined);
  set('destinationExchangeKey', str('dest-exchange-key'));
  return { ok: true, model };
}
