import { connect, type PeerCertificate } from 'node:tls';
import type { AllowedNetworks } from '../common/net/allowed-networks';
import { redactString } from '../common/logging/redact';
import type { BrokerTls } from './broker-tls';

/** The certificate one TLS endpoint presents, read in a handshake that sends nothing else. */
export interface CertificateReading {
  /** `management host:port`, `amqps host:port`, `link host:port`, `load-balancer host:port`. */
  endpoint: string;
  subject: string | null;
  issuer: string | null;
  notAfter: string | null;
  daysToExpiry: number | null;
  /** The chain verifies against the cluster's CA bundle and server name. */
  verified: boolean;
  /** Why it does not verify, or why nothing was read. */
  error: string | null;
}

const dn = (x: PeerCertificate['subject'] | undefined) =>
  x
    ? Object.entries(x)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ')
    : null;

/**
 * Connects, completes the handshake without rejecting (so an untrusted or expired certificate is
 * still read and reported), and closes. No credentials are sent: nothing but the handshake
 * crosses the connection.
 */
export function readCertificate(
  endpoint: string,
  host: string,
  port: number,
  tls: BrokerTls,
  timeoutMs: number,
  now: () => number = Date.now,
  networks?: AllowedNetworks,
): Promise<CertificateReading> {
  return new Promise((resolve) => {
    const failed = (message: string): CertificateReading => ({
      endpoint,
      subject: null,
      issuer: null,
      notAfter: null,
      daysToExpiry: null,
      verified: false,
      error: redactString(message),
    });
    try {
      networks?.checkLiteral(host);
    } catch (err) {
      resolve(failed((err as Error).message));
      return;
    }
    const socket = connect({
      host,
      port,
      ca: tls.ca,
      rejectUnauthorized: false,
      servername: tls.serverName ?? (/^[\d.:[\]]+$/.test(host) ? undefined : host),
      ...(networks?.restricted ? { lookup: networks.lookup } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(failed(`no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate();
      socket.end();
      if (!cert || !cert.valid_to) {
        resolve(failed('the endpoint presented no certificate'));
        return;
      }
      const notAfter = new Date(cert.valid_to);
      resolve({
        endpoint,
        subject: dn(cert.subject),
        issuer: dn(cert.issuer),
        notAfter: notAfter.toISOString(),
        daysToExpiry: Math.floor((notAfter.getTime() - now()) / 86_400_000),
        verified: socket.authorized,
        error: socket.authorized
          ? null
          : `certificate verification failed: ${String(socket.authorizationError)}`,
      });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(failed(`TLS handshake failed: ${err.message}`));
    });
  });
}

export interface TlsEndpoint {
  endpoint: string;
  host: string;
  port: number;
}

/** Every TLS endpoint of a cluster crossdock knows: nodes' management and AMQPS, link endpoints, the site's load balancer. */
export function tlsEndpoints(
  nodes: readonly { host: string; managementPort: number; amqpPort: number }[],
  linkEndpoints: readonly { host: string; port: number }[],
  loadBalancer: { host: string; port: number } | null,
): TlsEndpoint[] {
  const out = new Map<string, TlsEndpoint>();
  const add = (kind: string, host: string, port: number) => {
    const endpoint = `${kind} ${host}:${port}`;
    if (![...out.values()].some((e) => e.host === host && e.port === port))
      out.set(endpoint, { endpoint, host, port });
  };
  for (const n of nodes) add('management', n.host, n.managementPort);
  for (const n of nodes) add('amqps', n.host, n.amqpPort);
  for (const e of linkEndpoints) add('link', e.host, e.port);
  if (loadBalancer) add('load-balancer', loadBalancer.host, loadBalancer.port);
  return [...out.values()];
}
