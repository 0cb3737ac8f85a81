import type { FederationSettings } from './link-settings';
import { intIn, isAckMode, isRec, uriList, type Decoded, type Rec } from './codec';
import { linkDefaults } from './defaults';

/** A `federation-upstream` runtime parameter in crossdock's terms. */
export interface UpstreamModel {
  /** The URI pool (see link-uri: resolveLinkUris). */
  uris: string[];
  /** What the upstream federates: exchange links carry `max-hops`, queue links do not. */
  kind: 'exchange' | 'queue';
  settings: FederationSettings;
  /**
   * `resource-cleanup-mode never`: the WAN backlog queue survives a link restart (every config
   * change restarts the link). User links keep it; probe paths, whose backlog is worthless, do not.
   */
  keepBacklog: boolean;
  /**
   * The exchange (exchange links: upstream key `exchange`) or queue (queue links: key `queue`)
   * on the upstream cluster, when it is not named like the downstream one.
   */
  upstreamObject?: string;
}

/** The upstream key that names the upstream object for a link of `kind`. */
export const upstreamObjectKey = (kind: UpstreamModel['kind']): 'exchange' | 'queue' => kind;

/** A broker name as crossdock's API accepts it (1..255 characters). */
const isObjectName = (x: unknown): x is string =>
  typeof x === 'string' && x.length >= 1 && x.length <= 255;

/** The settings as crossdock writes them: its defaults filled in, `maxHops` for exchanges only. */
export function resolvedFederationSettings(
  st: FederationSettings,
  kind: UpstreamModel['kind'],
): FederationSettings {
  const out: FederationSettings = {
    ackMode: st.ackMode ?? linkDefaults.ackMode,
    prefetchCount: st.prefetchCount ?? linkDefaults.prefetchCount,
    reconnectDelaySeconds: st.reconnectDelaySeconds ?? linkDefaults.reconnectDelaySeconds,
    trustUserId: st.trustUserId ?? linkDefaults.trustUserId,
  };
  if (kind === 'exchange') out.maxHops = st.maxHops ?? linkDefaults.maxHops;
  if (st.expiresMs !== undefined) out.expiresMs = st.expiresMs;
  if (st.messageTtlMs !== undefined) out.messageTtlMs = st.messageTtlMs;
  if (st.queueType !== undefined) out.queueType = st.queueType;
  return out;
}

export function encodeUpstream(m: UpstreamModel): Rec {
  const st = resolvedFederationSettings(m.settings, m.kind);
  const v: Rec = {
    uri: m.uris,
    'ack-mode': st.ackMode,
    'prefetch-count': st.prefetchCount,
    'reconnect-delay': st.reconnectDelaySeconds,
    'trust-user-id': st.trustUserId,
  };
  if (m.keepBacklog) v['resource-cleanup-mode'] = 'never';
  if (st.maxHops !== undefined) v['max-hops'] = st.maxHops;
  if (st.expiresMs !== undefined) v.expires = st.expiresMs;
  if (st.messageTtlMs !== undefined) v['message-ttl'] = st.messageTtlMs;
  if (st.queueType !== undefined) v['queue-type'] = st.queueType;
  if (m.upstreamObject !== undefined) v[upstreamObjectKey(m.kind)] = m.upstreamObject;
  return v;
}

/**
 * An upstream value -> the model, for a link of `kind`. Keys crossdock does not express, or
 * values outside the ranges its API accepts, make the upstream undecodable (the reason names the
 * keys, never a value: URIs carry credentials). `max-hops` of a queue upstream is read and dropped,
 * and so is the key naming the upstream object of the other kind (`queue` of an exchange upstream).
 */
export function decodeUpstream(
  value: unknown,
  kind: UpstreamModel['kind'],
): Decoded<UpstreamModel> {
  const v = isRec(value) ? value : {};
  const s: FederationSettings = {};
  let upstreamObject: string | undefined;
  const bad: string[] = [];
  const take = (k: string, ok: boolean, set: () => void) => (ok ? set() : bad.push(k));
  for (const [k, x] of Object.entries(v)) {
    switch (k) {
      case 'uri':
      case 'resource-cleanup-mode':
      case 'ha-policy': // ignored by the broker (trap 3.18)
        break;
      case 'prefetch-count':
        take(k, intIn(x, 1, 65535), () => (s.prefetchCount = x as number));
        break;
      case 'reconnect-delay':
        take(k, intIn(x, 0, 3600), () => (s.reconnectDelaySeconds = x as number));
        break;
      case 'ack-mode':
        take(k, isAckMode(x), () => (s.ackMode = x as FederationSettings['ackMode']));
        break;
      case 'trust-user-id':
        take(k, typeof x === 'boolean', () => (s.trustUserId = x as boolean));
        break;
      case 'max-hops':
        take(k, intIn(x, 1, 10), () => {
          if (kind === 'exchange') s.maxHops = x as number;
        });
        break;
      case 'expires':
        take(k, intIn(x, 1, 2147483647), () => (s.expiresMs = x as number));
        break;
      case 'message-ttl':
        take(k, intIn(x, 0, 2147483647), () => (s.messageTtlMs = x as number));
        break;
      case 'queue-type':
        take(k, x === 'classic' || x === 'quorum', () => (s.queueType = x as 'classic'));
        break;
      // Each names the upstream object for its own kind of link; the broker ignores the other.
      case 'exchange':
      case 'queue':
        take(k, isObjectName(x), () => {
          if (k === upstreamObjectKey(kind)) upstreamObject = x as string;
        });
        break;
      default:
        bad.push(k);
    }
  }
  if (bad.length)
    return {
      ok: false,
      reason: `upstream keys crossdock does not express (or values out of range): ${bad.sort().join(', ')}`,
    };
  return {
    ok: true,
    model: {
      uris: uriList(v.uri),
      kind,
      settings: s,
      keepBacklog: v['resource-cleanup-mode'] === 'never',
      ...(upstreamObject !== undefined ? { upstreamObject } : {}),
    },
  };
}
