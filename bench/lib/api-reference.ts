/**
 * The reference bench/api compares the service with: a server written with `node:http` and `pg`
 * alone, doing the work the service does per request, no framework.
 *
 *   node --import tsx bench/lib/api-reference.ts <database url> <port> <pool size> <probe interval ms>
 *
 * - `GET /sites`: the bearer token is hashed (SHA-256) and looked up in `api_tokens` on every
 *   request (unknown, revoked or expired: 401), then the first page of sites (50, by seq) is
 *   read with one query and serialised to the same JSON the service answers
 *   (`{ items, nextCursor }`).
 * - `GET /links/federation/{id}/health`: the same token lookup, then the service's query for one
 *   link's health and the same JSON.
 * - `GET /health/live`: the same bytes the service answers, from memory.
 *
 * Prints `ready` on stdout once listening.
 */
import { createHash } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { Pool } from 'pg';
import { defaultThresholds, type HealthThresholds } from '../../src/probes/link-health';

const [url, portArg, poolArg, probeIntervalArg] = process.argv.slice(2);
const pool = new Pool({ connectionString: url, max: Number(poolArg) || 20 });
const probeIntervalMs = Number(probeIntervalArg) || 1000;
const staleAfterMs = Math.max(15000, 10 * probeIntervalMs, 3 * 5000);
const pageSize = 50;
const live = Buffer.from(JSON.stringify({ status: 'ok' }));
const bearer = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/;
const federationHealth = /^\/links\/federation\/([0-9a-f-]{36})\/health$/;

function send(res: ServerResponse, status: number, body: string | Buffer): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': bytes.length,
  });
  res.end(bytes);
}

async function authenticated(header: string | undefined): Promise<boolean> {
  const m = header === undefined ? null : bearer.exec(header);
  if (!m) return false;
  const hash = createHash('sha256').update(m[1], 'utf8').digest();
  const { rows } = await pool.query<{ role: string }>(
    `SELECT id, name, role FROM api_tokens
      WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [hash],
  );
  return rows.length === 1;
}

interface SiteRow {
  id: string;
  seq: string;
  name: string;
  region: string;
  description: string;
  load_balancer_host: string | null;
  load_balancer_port: number | null;
  expected_rtt_ms: number;
  version: number;
  created_at: Date;
  updated_at: Date;
}

async function sites(): Promise<string> {
  const { rows } = await pool.query<SiteRow>(
    `SELECT id, seq, name, region, description, load_balancer_host, load_balancer_port,
            expected_rtt_ms, version, created_at, updated_at
       FROM sites ORDER BY seq ASC LIMIT $1`,
    [pageSize + 1],
  );
  const page = rows.slice(0, pageSize);
  return JSON.stringify({
    items: page.map((s) => ({
      id: s.id,
      name: s.name,
      region: s.region,
      description: s.description,
      loadBalancer:
        s.load_balancer_host !== null && s.load_balancer_port !== null
          ? { host: s.load_balancer_host, port: s.load_balancer_port }
          : null,
      expectedRttMs: s.expected_rtt_ms,
      version: s.version,
      createdAt: s.created_at.toISOString(),
      updatedAt: s.updated_at.toISOString(),
    })),
    nextCursor:
      rows.length > pageSize
        ? Buffer.from(`s:${page[page.length - 1].seq}`).toString('base64url')
        : null,
  });
}

interface HealthRow {
  id: string;
  name: string;
  paused: boolean;
  state: string | null;
  reasons: unknown[] | null;
  vals: Record<string, unknown> | null;
  thresholds: Partial<HealthThresholds> | null;
  path_id: string | null;
  since: Date | null;
  evaluated_at: Date | null;
  evaluated_by: string | null;
  rtt: number;
}

async function linkHealth(id: string): Promise<string | undefined> {
  const { rows } = await pool.query<HealthRow>(
    `SELECT l.id, l.name, l.paused, NULL::timestamptz AS completed_at, l.seq, h.state, h.reasons, h.vals, h.thresholds, h.path_id, h.since,
            h.evaluated_at, h.evaluated_by,
            GREATEST(COALESCE(sf.expected_rtt_ms, 50), COALESCE(st.expected_rtt_ms, 50)) AS rtt
       FROM federation_links l
       LEFT JOIN link_health h ON h.link_id = l.id
       LEFT JOIN clusters cf ON cf.id = l.upstream_cluster_id LEFT JOIN sites sf ON sf.id = cf.site_id
       LEFT JOIN clusters ct ON ct.id = l.downstream_cluster_id LEFT JOIN sites st ON st.id = ct.site_id
      WHERE l.id = ANY($1::uuid[]) ORDER BY l.seq`,
    [[id]],
  );
  const r = rows[0];
  if (!r) return undefined;
  const fresh =
    !r.paused && r.evaluated_at && Date.now() - r.evaluated_at.getTime() <= staleAfterMs;
  return JSON.stringify({
    linkId: r.id,
    kind: 'federation',
    name: r.name,
    state: fresh ? (r.state ?? 'unknown') : 'unknown',
    reasons: fresh
      ? (r.reasons ?? [])
      : [{ code: 'no-probe-data', state: 'unknown', detail: 'not fresh' }],
    values: r.vals ?? {},
    thresholds: {
      ...defaultThresholds({ expectedRttMs: r.rtt, probeIntervalMs }),
      ...(r.thresholds ?? {}),
    },
    pathId: r.path_id,
    since: r.since?.toISOString() ?? null,
    evaluatedAt: r.evaluated_at?.toISOString() ?? null,
    evaluatedBy: r.evaluated_by,
    brokerState: fresh ? (r.vals?.brokerState ?? null) : null,
    cause: fresh ? (r.vals?.cause ?? null) : null,
    divergence: fresh ? (r.vals?.divergence ?? null) : null,
  });
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/health/live') return send(res, 200, live);
  const health = federationHealth.exec(path);
  if (req.method !== 'GET' || (path !== '/sites' && !health)) return send(res, 404, '{}');
  authenticated(req.headers.authorization)
    .then(async (ok) => {
      if (!ok) return send(res, 401, '{}');
      const body = health ? await linkHealth(health[1]) : await sites();
      send(res, body === undefined ? 404 : 200, body ?? '{}');
    })
    .catch((err: unknown) => send(res, 500, JSON.stringify({ error: String(err) })));
});
server.keepAliveTimeout = 5000;
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write('ready'));
process.on('SIGTERM', () => {
  server.close();
  void pool.end().finally(() => process.exit(0));
});
