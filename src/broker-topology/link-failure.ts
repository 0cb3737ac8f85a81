/**
 * The one classifier of why a broker link (federation link, shovel) is not running, from the
 * text the broker leaves in its status lists (federation link `error`, shovel `reason`) or from
 * an AMQP error crossdock itself met with the link user's credentials. Pure: table-tested with
 * the broker's own strings.
 */

export type LinkFailureCode =
  | 'access-refused'
  | 'not-found'
  | 'authentication-failed'
  | 'connection-refused'
  | 'connection-reset'
  | 'timeout'
  | 'host-unreachable'
  | 'tls-failure'
  | 'precondition-failed'
  | 'resource-alarm'
  | 'restarting'
  | 'other';

export const linkFailureCodes: readonly LinkFailureCode[] = [
  'access-refused',
  'not-found',
  'authentication-failed',
  'connection-refused',
  'connection-reset',
  'timeout',
  'host-unreachable',
  'tls-failure',
  'precondition-failed',
  'resource-alarm',
  'restarting',
  'other',
];

export interface LinkFailureObject {
  kind: 'queue' | 'exchange' | 'vhost' | 'topic';
  name: string;
  vhost?: string;
}

export interface LinkFailure {
  code: LinkFailureCode;
  /** One sentence for people, naming the object, permission and user when the broker did. */
  detail: string;
  /** The broker object the broker named (access refused, not found, precondition failed). */
  object?: LinkFailureObject;
  /** The permission the broker refused, when it said (RabbitMQ 3.10 names only the object). */
  permission?: 'configure' | 'write' | 'read';
  /** The user the broker refused. */
  user?: string;
  /** TLS failures: the certificate was not verified (unknown CA, bad or expired certificate, wrong host). */
  certificateVerification?: boolean;
}

/** A classified failure and where crossdock read it: what status and health show. */
export interface LinkCause extends LinkFailure {
  /**
   * Where crossdock read it: the broker's link status (`broker-status`), a node's resource
   * alarm (`node-alarm`), or crossdock's own check with the link user's credentials
   * (`preflight`, for shovels whose 3.10 status says only "needed a restart").
   */
  source: 'broker-status' | 'node-alarm' | 'preflight';
  /** The broker link it was read from (federated exchange or queue, or shovel name). */
  link?: string;
  /** The cluster the cause is on (alarms, preflight). */
  cluster?: string;
}

/** What a TLS link failing its handshake leaves in the broker's link status. */
const certificateVerification =
  /unknown_ca|unknown ca|bad_certificate|bad certificate|certificate_expired|certificate expired|certificate_unknown|hostname_check_failed|unable to get|selfsigned_peer|handshake_failure/i;
const tlsOther = /tls_alert|\{tls_|ssl_|\btls\b|server_sent_malformed_header/i;

const resourceKinds = ['queue', 'exchange', 'vhost', 'topic'] as const;

/** `access to queue 'x' in vhost 'v' refused for user 'u'` (optionally prefixed with the permission). */
const accessRefused =
  /ACCESS_REFUSED - (?:(configure|write|read) )?access to (queue|exchange|vhost|topic) '((?:[^']|'(?! in vhost))*)'(?: in vhost '([^']*)')? refused for user '([^']*)'/;
const vhostRefused = /access to vhost '([^']*)' refused for user '([^']*)'/;
const notFound = /NOT_FOUND - no (queue|exchange) '((?:[^']|'(?! in vhost))*)' in vhost '([^']*)'/;
const precondition = /PRECONDITION_FAILED - ([^"<>]*?)(?:">>|"|$)/;

const describe = (o: LinkFailureObject) =>
  `${o.kind} "${o.name}"${o.vhost !== undefined && o.kind !== 'vhost' ? ` in vhost "${o.vhost}"` : ''}`;

/** Classifies the broker's text; null when there is nothing to classify (no text). */
export function classifyLinkFailure(raw: string | null | undefined): LinkFailure | null {
  if (raw === null || raw === undefined) return null;
  // Erlang terms print binaries across lines with padding: one line, single spaces.
  const text = raw.replace(/\s+/g, ' ').trim();
  if (text === '') return null;
  const quoted = text.length > 200 ? `${text.slice(0, 200)}...` : text;

  const access = accessRefused.exec(text);
  if (access) {
    const [, permission, kind, name, vhost, user] = access;
    const object: LinkFailureObject = {
      kind: resourceKinds.find((k) => k === kind) ?? 'queue',
      name,
      ...(vhost !== undefined ? { vhost } : {}),
    };
    return {
      code: 'access-refused',
      detail: `access refused: user "${user}" may not ${permission ? `${permission} ` : 'use '}${describe(object)}${permission ? '' : ' (the broker does not say which permission: declaring needs configure, publishing write, consuming read)'}`,
      object,
      ...(permission ? { permission: permission as LinkFailure['permission'] } : {}),
      user,
    };
  }
  if (/Login was refused|auth_failure|ACCESS_REFUSED - Login|invalid credentials/i.test(text))
    return {
      code: 'authentication-failed',
      detail: `authentication failed: the broker refused the link user's login (${quoted})`,
    };
  const vh = vhostRefused.exec(text);
  if (vh || /^not_allowed$|\bnot_allowed\b/.test(text)) {
    const object: LinkFailureObject | undefined = vh ? { kind: 'vhost', name: vh[1] } : undefined;
    return {
      code: 'access-refused',
      detail: vh
        ? `access refused: user "${vh[2]}" may not open vhost "${vh[1]}"`
        : 'access refused: the link user may not open the vhost, or the vhost does not exist (not_allowed)',
      ...(object ? { object } : {}),
      ...(vh ? { user: vh[2] } : {}),
    };
  }
  const nf = notFound.exec(text);
  if (nf) {
    const object: LinkFailureObject = {
      kind: nf[1] === 'exchange' ? 'exchange' : 'queue',
      name: nf[2],
      vhost: nf[3],
    };
    return { code: 'not-found', detail: `not found: no ${describe(object)}`, object };
  }
  const pf = precondition.exec(text);
  if (pf)
    return {
      code: 'precondition-failed',
      detail: `precondition failed: ${pf[1].trim()} (an object exists with other arguments than the link declares)`,
    };
  if (certificateVerification.test(text))
    return {
      code: 'tls-failure',
      certificateVerification: true,
      detail: `TLS certificate verification failed (${quoted})`,
    };
  if (tlsOther.test(text)) return { code: 'tls-failure', detail: `TLS failure (${quoted})` };
  if (/econnrefused/i.test(text))
    return { code: 'connection-refused', detail: 'connection refused by the remote endpoint' };
  if (
    /econnreset|socket_closed_unexpectedly|\bclosed\b|connection_closed|CONNECTION_FORCED/i.test(
      text,
    )
  )
    return { code: 'connection-reset', detail: `connection reset or closed (${quoted})` };
  if (/heartbeat_timeout|etimedout|\btimeout\b|timed out/i.test(text))
    return { code: 'timeout', detail: `connection timed out (${quoted})` };
  if (/ehostunreach|enetunreach|nxdomain|eaddrnotavail/i.test(text))
    return { code: 'host-unreachable', detail: `remote host unreachable (${quoted})` };
  if (/resource_alarm|\bblocked\b|connection\.blocked/i.test(text))
    return { code: 'resource-alarm', detail: `blocked by a resource alarm (${quoted})` };
  if (/needed a restart/i.test(text))
    return {
      code: 'restarting',
      detail:
        'the broker keeps restarting the link and does not say why in its status (RabbitMQ 3.10)',
    };
  return { code: 'other', detail: quoted };
}

/**
 * A broker link state that is itself a cause: a 3.11+ shovel `blocked` by the destination's
 * resource alarm, or a link still `starting` (connecting, or waiting to reconnect).
 */
export function classifyLinkState(state: string, text?: string): LinkFailure | null {
  const fromText = classifyLinkFailure(text);
  if (fromText) return fromText;
  if (state === 'blocked' || state === 'flow')
    return { code: 'resource-alarm', detail: `the broker reports the link ${state}` };
  return null;
}
