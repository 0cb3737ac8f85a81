/**
 * A management API front per crossdock cluster, for benchmarks that model several crossdock
 * clusters as tenants of one real broker (bench/scale): every crossdock cluster gets its own
 * endpoint (one port per real node), each endpoint counts the requests that cross it, and the
 * bulk listings the reconciler observes with are cut down to the tenant's vhosts, so the service
 * parses what a broker of its own would return, not every tenant's objects.
 */
import { createServer, request, Agent, type IncomingMessage, type Server } from 'node:http';
import { observationListings } from '../../src/broker-topology/broker-paths';

export interface ProxyCounts {
  requests: number;
  writes: number;
  /** Requests that failed at the proxy (upstream unreachable). */
  errors: number;
}

export interface TenantProxy {
  /** Local ports, one per real node, in the order of `targets`. */
  ports: number[];
  counts: ProxyCounts;
  reset(): void;
  close(): Promise<void>;
}

const listingPaths = new Set(observationListings.map((l) => l.path));

/** What a tenant sees of a listing: an item of one of its vhosts that `keep` (if any) accepts. */
export interface ListingScope {
  vhosts: ReadonlySet<string>;
  keep?: (item: Record<string, unknown>) => boolean;
}

/** Keeps the items of a listing the scope accepts; anything not shaped like a listing passes. */
export function filterListing(body: Buffer, scope: ListingScope): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return body;
  }
  if (!Array.isArray(parsed)) return body;
  const kept = parsed.filter((item: unknown) => {
    if (typeof item !== 'object' || item === null) return true;
    const vhost = (item as { vhost?: unknown }).vhost;
    if (typeof vhost !== 'string') return true;
    return scope.vhosts.has(vhost) && (scope.keep?.(item as Record<string, unknown>) ?? true);
  });
  return Buffer.from(JSON.stringify(kept));
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      if (addr && typeof addr === 'object') resolve(addr.port);
      else reject(new Error('proxy: no port'));
    });
  });
}

/** Starts one front per target node; `scope` cuts the bulk listings when given. */
export async function startTenantProxy(
  targets: { host: string; port: number }[],
  scope: ListingScope | undefined,
): Promise<TenantProxy> {
  const counts: ProxyCounts = { requests: 0, writes: 0, errors: 0 };
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const servers: Server[] = [];
  const ports: number[] = [];
  for (const target of targets) {
    const server = createServer((req, res) => {
      counts.requests++;
      if (req.method !== 'GET' && req.method !== 'HEAD') counts.writes++;
      const path = (req.url ?? '/').split('?')[0];
      const cut = scope !== undefined && req.method === 'GET' && listingPaths.has(path);
      const idempotent = req.method === 'GET' || req.method === 'HEAD';
      const forward = (retry: boolean): void => {
        const up = request(
          {
            host: target.host,
            port: target.port,
            method: req.method,
            path: req.url,
            // A cut listing is parsed here: ask for it uncompressed.
            headers: cut ? { ...req.headers, 'accept-encoding': 'identity' } : req.headers,
            agent,
          },
          (ur: IncomingMessage) => {
            if (!cut || ur.statusCode !== 200) {
              res.writeHead(ur.statusCode ?? 502, ur.headers);
              ur.pipe(res);
              return;
            }
            const chunks: Buffer[] = [];
            ur.on('data', (c: Buffer) => chunks.push(c));
            ur.on('end', () => {
              const body = filterListing(Buffer.concat(chunks), scope as ListingScope);
              const headers = { ...ur.headers, 'content-length': String(body.length) };
              delete headers['transfer-encoding'];
              res.writeHead(200, headers);
              res.end(body);
            });
          },
        );
        up.on('error', (err: NodeJS.ErrnoException) => {
          // A kept-alive socket the broker closed as it was reused: a GET is sent again once,
          // as a direct client would (the front must not add failures of its own).
          if (retry && idempotent && up.reusedSocket && err.code === 'ECONNRESET') {
            forward(false);
            return;
          }
          counts.errors++;
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
        if (idempotent) up.end();
        else req.pipe(up);
      };
      if (idempotent) req.resume();
      forward(true);
    });
    servers.push(server);
    ports.push(await listen(server));
  }
  return {
    ports,
    counts,
    reset() {
      counts.requests = 0;
      counts.writes = 0;
      counts.errors = 0;
    },
    async close() {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
      agent.destroy();
    },
  };
}
