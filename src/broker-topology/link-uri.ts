import { linkTlsQuery, type LinkTlsRemote, type LinkTlsRunnerFiles } from '../broker/link-tls';
import { linkUriParams, sessionHeartbeatSeconds } from './defaults';

/**
 * The one place AMQP URIs are built and read: the URIs links carry (upstream `uri`, shovel
 * `src-uri`/`dest-uri`) and the ones crossdock's own AMQP sessions connect with. TLS (`amqps`,
 * certificate parameters) is taught here once.
 */

/** Query parameters, in the order they are written. */
export type UriParams = Readonly<Record<string, string | number | boolean>>;

export interface AmqpTarget {
  /** Empty: the node the plugin runs on (a shovel's local end): `amqp:///<vhost>`. */
  host: string;
  port?: number;
  vhost: string;
  credentials?: { username: string; password: string };
  params?: UriParams;
  /** `amqps://` (the endpoint is a TLS listener). */
  tls?: boolean;
}

const hostPart = (host: string) =>
  host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;

/**
 * `amqp://user:pass@host:port/vhost?params` (`amqps://` with `tls`), every part percent-encoded
 * except `/` in query values (file paths of TLS parameters stay readable; `/` is valid there).
 */
export function amqpUri(t: AmqpTarget): string {
  const auth = t.credentials
    ? `${encodeURIComponent(t.credentials.username)}:${encodeURIComponent(t.credentials.password)}@`
    : '';
  const address = t.host === '' ? '' : `${hostPart(t.host)}${t.port ? `:${t.port}` : ''}`;
  const query = Object.entries(t.params ?? {})
    .map(
      ([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v)).replace(/%2F/g, '/')}`,
    )
    .join('&');
  return `${t.tls ? 'amqps' : 'amqp'}://${auth}${address}/${encodeURIComponent(t.vhost)}${query ? `?${query}` : ''}`;
}

/** The local end of a shovel: the node it runs on, no credentials (a direct connection). */
export const localUri = (vhost: string) => amqpUri({ host: '', vhost });

/** The URI builder of crossdock's own AMQP sessions (AmqpSession `uri`) to one vhost. */
export function sessionUri(
  credentials: { username: string; password: string },
  vhost: string,
  heartbeatSeconds: number = sessionHeartbeatSeconds,
  tls = false,
): (endpoint: { host: string; port: number }) => string {
  return (ep) =>
    amqpUri({ ...ep, vhost, credentials, params: { heartbeat: heartbeatSeconds }, tls });
}

/** How other sites reach a cluster over AMQP. */
export interface ClusterReach {
  /** The site's load balancer, when it has one: preferred over the endpoints. */
  loadBalancer: { host: string; port: number } | null;
  linkEndpoints: { host: string; port: number }[];
  /** The cluster's link user; without it there is no URI. */
  credentials: { username: string; password: string } | undefined;
  /** Set for a cluster configured for TLS: links to it use amqps:// with peer verification. */
  tls?: LinkTlsRemote | null;
  /** Files on the nodes of the cluster that runs the link (cacertfile, certfile, keyfile). */
  runnerFiles?: LinkTlsRunnerFiles | null;
}

/**
 * The URI pool links use to reach `vhost` on a cluster: its site's load balancer, else its link
 * endpoints, with the link user's credentials. Sorted (the broker picks one at random per
 * connection attempt, so the order carries no meaning and a stable one avoids rewrites).
 */
export function resolveLinkUris(reach: ClusterReach, vhost: string): string[] {
  const { credentials } = reach;
  if (!credentials) return [];
  const endpoints = reach.loadBalancer ? [reach.loadBalancer] : reach.linkEndpoints;
  const params: UriParams = reach.tls
    ? { ...linkUriParams, ...Object.fromEntries(linkTlsQuery(reach.tls, reach.runnerFiles)) }
    : linkUriParams;
  const tls = !!reach.tls;
  return endpoints.map((e) => amqpUri({ ...e, vhost, credentials, params, tls })).sort();
}

/** What crossdock knows of the clusters it links, keyed by cluster id (the compiler's snapshot). */
export interface LinkAddressBook {
  clusters: Record<
    string,
    {
      siteId: string;
      linkEndpoints: { host: string; port: number }[];
      /** TLS clusters: links to them use amqps://; `linkFiles` are this cluster's files as runner. */
      tls?: (LinkTlsRemote & { linkFiles: LinkTlsRunnerFiles | null }) | null;
    }
  >;
  sites: Record<string, { loadBalancer: { host: string; port: number } | null }>;
  linkCredentials: Record<string, { username: string; password: string }>;
}

/**
 * resolveLinkUris for a registered cluster; empty when it is unknown or has no link user yet.
 * `runnerId`: the cluster whose nodes run the link (its TLS files verify a TLS remote).
 */
export function linkUris(
  book: LinkAddressBook,
  clusterId: string,
  vhost: string,
  runnerId?: string,
): string[] {
  const c = book.clusters[clusterId];
  if (!c) return [];
  return resolveLinkUris(
    {
      loadBalancer: book.sites[c.siteId]?.loadBalancer ?? null,
      linkEndpoints: c.linkEndpoints,
      credentials: book.linkCredentials[clusterId],
      tls: c.tls ?? null,
      runnerFiles: runnerId ? (book.clusters[runnerId]?.tls?.linkFiles ?? null) : null,
    },
    vhost,
  );
}

export interface ParsedUri {
  /** Empty for `amqp://` without a host: the node the plugin runs on (a direct connection). */
  host: string;
  port: number;
  vhost: string;
  hasCredentials: boolean;
}

/** An AMQP URI's address and vhost; never returns the credentials it may carry. */
export function parseAmqpUri(uri: string): ParsedUri | undefined {
  const m = /^(amqps?):\/\/([^/?#]*)(\/[^?#]*)?(?:\?[^#]*)?$/i.exec(uri);
  if (!m) return undefined;
  const tls = m[1].toLowerCase() === 'amqps';
  let authority = m[2];
  const at = authority.lastIndexOf('@');
  const hasCredentials = at >= 0 && authority.slice(0, at).length > 0;
  if (at >= 0) authority = authority.slice(at + 1);
  let port = tls ? 5671 : 5672;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(authority);
  const v4 = /^([^:]*)(?::(\d+))?$/.exec(authority);
  const hp = v6 ?? v4;
  if (!hp) return undefined;
  const host = hp[1].toLowerCase();
  if (hp[2] !== undefined) port = Number(hp[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const path = m[3];
  let vhost = '/';
  if (path !== undefined && path.length > 1) {
    try {
      vhost = decodeURIComponent(path.slice(1));
    } catch {
      return undefined;
    }
  }
  return { host, port, vhost, hasCredentials };
}
