/**
 * TLS query parameters of an amqps link URI, as RabbitMQ's Erlang AMQP client reads them
 * (amqp_uri: cacertfile, certfile, keyfile, verify, server_name_indication). They name files on
 * the nodes that run the link (the cluster whose federation upstream or shovel carries the URI),
 * so the runner's files and the remote's server name meet here.
 */
export interface LinkTlsRemote {
  serverName: string | null;
}

export interface LinkTlsRunnerFiles {
  caCertFile: string;
  certFile: string | null;
  keyFile: string | null;
}

/** Paths a link URI may carry: absolute, and nothing the URI query would need escaped. */
export const linkFilePattern = /^\/[A-Za-z0-9._/-]{1,1023}$/;

/**
 * The query parameters (in a fixed order, so the URI compares equal across passes) for a link to
 * a TLS cluster. Peer verification is always on; without the runner's CA file the broker has
 * nothing to verify with and the link stays down with a certificate error (never unverified).
 */
export function linkTlsQuery(
  remote: LinkTlsRemote,
  runnerFiles: LinkTlsRunnerFiles | null | undefined,
): [string, string][] {
  const q: [string, string][] = [];
  if (runnerFiles) {
    q.push(['cacertfile', runnerFiles.caCertFile]);
    if (runnerFiles.certFile && runnerFiles.keyFile) {
      q.push(['certfile', runnerFiles.certFile], ['keyfile', runnerFiles.keyFile]);
    }
  }
  q.push(['verify', 'verify_peer']);
  if (remote.serverName) q.push(['server_name_indication', remote.serverName]);
  return q;
}

/** `k=v&...` with the values escaped as URI query components. */
export function formatQuery(params: [string, string][]): string {
  return params.map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%2F/gi, '/')}`).join('&');
}
