import { Injectable } from '@nestjs/common';
import { connect } from 'amqplib';
import type { ManagementClient } from '../broker/management-client';
import { managementPaths, objectPath } from '../broker-topology/broker-paths';
import { classifyLinkFailure, type LinkFailure } from '../broker-topology/link-failure';
import { parseAmqpUri } from '../broker-topology/link-uri';
import { linearRegex } from '../common/linear-regex';
import { redactString } from '../common/logging/redact';
import type { LinkCause } from './link-verdict';

/** One check per shovel at most this often, whoever asks (status reads, health evaluations). */
const minIntervalMs = 10000;
const connectTimeoutMs = 5000;

interface Checked {
  at: number;
  cause: LinkCause | null;
}

/**
 * A RabbitMQ 3.10 shovel that fails says only "needed a restart" (or `starting`) in its status;
 * the real reason is in the broker's log. This check repeats what the shovel does first, with
 * the credentials in its own stored value: connect to its destination as the link user and
 * passively declare the destination queue or exchange. Rate-limited per shovel; what it found is
 * kept for the health evaluation. Credentials never leave this function (only the classified
 * cause, which names the user, the object and the vhost).
 */
@Injectable()
export class LinkPreflight {
  private readonly checked = new Map<string, Checked>();
  private readonly running = new Map<string, Promise<LinkCause | null>>();

  /** The last result for a shovel if recent enough, without checking. */
  cached(linkId: string): LinkCause | null {
    const c = this.checked.get(linkId);
    return c && Date.now() - c.at < 3 * minIntervalMs ? c.cause : null;
  }

  /** Forgets a shovel's result (it runs again). */
  clear(linkId: string): void {
    this.checked.delete(linkId);
  }

  /**
   * Checks the shovel `name` in `vhost` on the cluster `client` manages (its source, where its
   * parameter lives), at most once per interval; concurrent callers share one check.
   */
  async shovel(
    linkId: string,
    client: ManagementClient,
    vhost: string,
    name: string,
    destinationCluster: string,
    destination?: ManagementClient,
  ): Promise<LinkCause | null> {
    const c = this.checked.get(linkId);
    if (c && Date.now() - c.at < minIntervalMs) return c.cause;
    const inFlight = this.running.get(linkId);
    if (inFlight) return inFlight;
    const p = checkShovel(client, vhost, name, destinationCluster, destination)
      .catch(() => null)
      .then((cause) => {
        this.checked.set(linkId, { at: Date.now(), cause });
        return cause;
      })
      .finally(() => this.running.delete(linkId));
    this.running.set(linkId, p);
    return p;
  }
}

async function checkShovel(
  client: ManagementClient,
  vhost: string,
  name: string,
  destinationCluster: string,
  destination?: ManagementClient,
): Promise<LinkCause | null> {
  const stored = await client.get<{ value?: Record<string, unknown> }>(
    objectPath({ kind: 'shovel', vhost, name }),
  );
  const v = stored.value ?? {};
  const uris = v['dest-uri'];
  const uri = Array.isArray(uris) ? (uris[0] as unknown) : uris;
  if (typeof uri !== 'string') return null;
  const parsed = parseAmqpUri(uri);
  // A direct (local) destination cannot be reached from here; TLS needs the node's key files.
  if (!parsed || parsed.host === '' || uri.toLowerCase().startsWith('amqps:')) return null;
  const queue = typeof v['dest-queue'] === 'string' ? v['dest-queue'] : null;
  const exchange = typeof v['dest-exchange'] === 'string' ? v['dest-exchange'] : null;
  const found = (f: ReturnType<typeof classifyLinkFailure>): LinkCause | null =>
    f ? { ...f, source: 'preflight', cluster: destinationCluster } : null;
  let conn;
  try {
    conn = await connect(uri, { timeout: connectTimeoutMs });
  } catch (err) {
    return found(classifyLinkFailure(errorText(err)));
  }
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    try {
      if (queue) await ch.checkQueue(queue);
      else if (exchange && exchange !== '') await ch.checkExchange(exchange);
      return null;
    } catch (err) {
      const f = classifyLinkFailure(errorText(err));
      if (f?.code === 'not-found' && f.object?.kind === 'queue') {
        const refused = await configureRefused(destination, parsed.vhost, uri, f.object.name);
        if (refused) return found(refused);
        f.detail += `: the shovel declares it as the link user, which needs configure permission on it, or it must be declared on the destination cluster`;
      }
      return found(f);
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * A missing destination queue the shovel would declare: refused when the link user's configure
 * permission on the destination vhost does not match the queue name (what the broker's log says
 * as ACCESS_REFUSED). Null when it matches or cannot be read.
 */
async function configureRefused(
  destination: ManagementClient | undefined,
  vhost: string,
  uri: string,
  queue: string,
): Promise<LinkFailure | null> {
  const m = /^amqps?:\/\/([^:@/]+)(?::[^@/]*)?@/i.exec(uri);
  if (!destination || !m) return null;
  let user: string;
  try {
    user = decodeURIComponent(m[1]);
  } catch {
    return null;
  }
  let perms: { configure?: unknown };
  try {
    perms = await destination.get<{ configure?: unknown }>(
      managementPaths.permissions(vhost, user),
    );
  } catch {
    return null;
  }
  if (typeof perms.configure !== 'string') return null;
  // A pattern from a broker response: run on RE2 (linear time); one it cannot run tells nothing.
  const allowed = linearRegex(perms.configure)?.test(queue);
  if (allowed !== false) return null;
  return {
    code: 'access-refused',
    detail: `access refused: user "${user}" may not configure queue "${queue}" in vhost "${vhost}", and the queue does not exist: the shovel cannot declare it (declare it on the destination cluster, or let the link user declare it)`,
    object: { kind: 'queue', name: queue, vhost },
    permission: 'configure',
    user,
  };
}

/** amqplib's messages carry the broker's text; socket errors carry a code (ECONNREFUSED, ...). */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const code = (err as { code?: unknown }).code;
  return redactString(`${typeof code === 'string' ? `${code.toLowerCase()} ` : ''}${err.message}`);
}
