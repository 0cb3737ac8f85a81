import { Injectable } from '@nestjs/common';
import { connect } from 'amqplib';
import type { AllowedNetworks } from '../common/net/allowed-networks';
import { redactString } from '../common/logging/redact';
import { AppConfig } from '../config/config.module';
import { AmqpSession } from './amqp-session';
import type { AmqpSessionOptions } from './amqp-session.types';
import { PlaintextRefusedError, tlsConnectOptions, type BrokerTls } from './broker-tls';
import { ManagementClient } from './management-client';
import type { ManagementClientOptions, ManagementScheme } from './management.types';

/**
 * How to reach one registered cluster: its nodes, scheme and crossdock's credentials. The
 * registry's cluster access has this shape; the broker layer needs nothing else of it.
 */
export interface BrokerTarget {
  cluster: { managementScheme: ManagementScheme };
  nodes: readonly { name: string; host: string; managementPort: number }[];
  username: string;
  password: string;
  networks?: AllowedNetworks;
  tls?: BrokerTls;
}

/** `timeoutMs` below the configured one (advice reads that must stay quick), `writeGuard` before writes. */
export type ManagementOptions = Partial<Pick<ManagementClientOptions, 'writeGuard' | 'timeoutMs'>>;

/**
 * The one way feature code reaches a cluster's broker, provided through DI so the orchestrators
 * (reconcile pass, link-user rotation, probe loop, overflow engine) can be given a fake in unit
 * tests:
 * - `management`: the management API of a cluster (every node a failover endpoint, the
 *   configured timeout, the allowed networks and TLS of the cluster, writes behind an optional
 *   guard);
 * - `amqpSession`: crossdock's own AMQP session to a cluster (reconnecting, confirms);
 * - `verifyAmqpLogins`: proves a credential where links will use it (a real AMQP login and a
 *   channel on each URI).
 */
@Injectable()
export class BrokerGateway {
  constructor(private readonly env: AppConfig) {}

  management(target: BrokerTarget, opts: ManagementOptions = {}): ManagementClient {
    const { timeoutMs, ...rest } = opts;
    const configured = this.env.BROKER_HTTP_TIMEOUT_MS;
    return managementClient(target, Math.min(timeoutMs ?? configured, configured), rest);
  }

  amqpSession(options: AmqpSessionOptions): AmqpSession {
    return new AmqpSession(options);
  }

  /**
   * Logs in over AMQP on every URI and opens a channel, with the target's allowed networks and
   * TLS material. Errors name the endpoint, never the password.
   */
  verifyAmqpLogins(uris: string[], target: Pick<BrokerTarget, 'networks' | 'tls'>): Promise<void> {
    return verifyAmqpLogin(uris, this.env.BROKER_HTTP_TIMEOUT_MS, target.networks, target.tls);
  }
}

/** A management client for a registered cluster: every node is a failover endpoint. */
export function managementClient(
  target: BrokerTarget,
  timeoutMs: number,
  extra: Omit<ManagementOptions, 'timeoutMs'> = {},
): ManagementClient {
  return new ManagementClient({
    nodes: target.nodes.map((n) => ({
      name: n.name,
      host: n.host,
      managementPort: n.managementPort,
    })),
    scheme: target.cluster.managementScheme,
    username: target.username,
    password: target.password,
    timeoutMs,
    networks: target.networks,
    tls: target.tls,
    ...extra,
  });
}

/**
 * Logs in over AMQP on every URI (each endpoint and vhost other clusters will use) and opens a
 * channel: the credential is proven where links will use it, not only written. Errors name the
 * endpoint, never the password.
 */
export async function verifyAmqpLogin(
  list: string[],
  timeoutMs: number,
  networks?: AllowedNetworks,
  tls?: BrokerTls,
): Promise<void> {
  for (const uri of list) {
    const where = redactString(uri.replace(/\?.*$/, ''));
    const secure = uri.startsWith('amqps://');
    if (tls && !secure) throw new PlaintextRefusedError(`AMQP (${where})`);
    try {
      if (networks?.restricted) networks.checkLiteral(new URL(uri).hostname);
      // The link URI's query names files on the broker nodes; crossdock verifies with its own copy.
      const conn = await connect(secure ? uri.replace(/\?.*$/, '') : uri, {
        timeout: timeoutMs,
        ...(secure && tls ? tlsConnectOptions(tls) : {}),
        ...(networks?.restricted ? { lookup: networks.lookup } : {}),
      });
      conn.on('error', () => undefined);
      try {
        const ch = await conn.createChannel();
        await ch.close();
      } finally {
        await conn.close().catch(() => undefined);
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      // No `cause`: the client's error may carry the URI, and with it the password.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`AMQP login to ${where} failed: ${redactString(why)}`);
    }
  }
}
