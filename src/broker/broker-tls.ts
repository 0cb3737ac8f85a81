import { createHash } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import type { ConnectionOptions } from 'node:tls';

/**
 * TLS material crossdock uses for its own connections to one cluster (management over https,
 * AMQPS for probes, overflow and link-user checks). The peer is always verified against `ca`
 * (the cluster's CA bundle, never the system store alone) and, when given, `serverName` (SNI
 * and the name checked in the certificate; the connection host otherwise).
 */
export interface BrokerTls {
  /** PEM, one or more CA certificates (a bundle during a CA rotation). */
  ca: string;
  serverName?: string | null;
  /** Optional client certificate (PEM) and its decrypted private key. */
  cert?: string | null;
  key?: string | null;
}

/** Options for tls.connect / https.request: peer verification on, never off. */
export function tlsConnectOptions(tls: BrokerTls): ConnectionOptions {
  return {
    ca: tls.ca,
    rejectUnauthorized: true,
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
  };
}

function materialKey(tls: BrokerTls): string {
  return createHash('sha256')
    .update(JSON.stringify([tls.ca, tls.serverName ?? '', tls.cert ?? '', tls.key ?? '']))
    .digest('hex');
}

const agents = new Map<string, HttpsAgent>();
const maxAgents = 256;

/**
 * One kept-alive https agent per distinct TLS material, so sockets verified against one
 * cluster's CA are never reused for another. Bounded: the oldest agent goes first.
 */
export function httpsAgentFor(tls: BrokerTls): HttpsAgent {
  const key = materialKey(tls);
  let agent = agents.get(key);
  if (!agent) {
    agent = new HttpsAgent({ keepAlive: true, ...tlsConnectOptions(tls) });
    agents.set(key, agent);
    if (agents.size > maxAgents) {
      const [oldestKey, oldest] = agents.entries().next().value as [string, HttpsAgent];
      agents.delete(oldestKey);
      oldest.destroy();
    }
  }
  return agent;
}

/** Thrown instead of sending credentials in clear to a cluster configured for TLS. */
export class PlaintextRefusedError extends Error {
  constructor(what: string) {
    super(
      `refusing to send credentials over plaintext ${what} to a cluster configured for TLS; use https / AMQPS endpoints`,
    );
    this.name = 'PlaintextRefusedError';
  }
}
