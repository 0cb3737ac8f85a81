import { Agent, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { bearer, clusterBody, uniqueName } from '../../helpers/api';
import type { TestApp } from '../../helpers/app';
import type { FixtureIds } from '../../helpers/routes';

export const problemJson = /^application\/problem\+json/;

/**
 * Real resources to address. The primaries (one per collection) are what path parameters
 * name and may be deleted: an empty site, a cluster without links holding a disc and a ram
 * node, a token, a federation link, a shovel and a policy. The links, the shovel and the policy
 * join two anchor clusters in two more sites, which no path parameter names (links restrict
 * deleting the clusters they join).
 */
export interface World {
  site: string;
  clusterSite: string;
  site2: string;
  cluster: string;
  discNode: string;
  node: string;
  anchorA: string;
  anchorB: string;
  token: string;
  federation: string;
  shovel: string;
  policy: string;
  overflow: string;
  /** Declared topology objects on anchorA (an exchange, a queue, a binding between them). */
  exchange: string;
  queue: string;
  binding: string;
  /** seq of an existing audit event (audit events are never deleted). */
  auditSeq: string;
  /** id of a stored reconcile run (of anchorA, which is never deleted). */
  run: string;
}

/** The id each collection's path parameter takes (see fillPath). */
export function worldIds(w: World): FixtureIds {
  return {
    sites: w.site,
    clusters: w.cluster,
    nodes: w.node,
    tokens: w.token,
    audit: w.auditSeq,
    federation: w.federation,
    shovels: w.shovel,
    policies: w.policy,
    runs: w.run,
    'overflow-rules': w.overflow,
    exchanges: w.exchange,
    queues: w.queue,
    bindings: w.binding,
    paths: `shovel:${w.anchorA}:${w.anchorB}`,
  };
}

/** Every live id of each collection, for ids inside bodies and queries. */
export function worldPools(w: World): Record<string, string[]> {
  return {
    sites: [w.site, w.clusterSite, w.site2],
    clusters: [w.cluster, w.anchorA, w.anchorB],
    nodes: [w.node, w.discNode],
    tokens: [w.token],
    audit: [w.auditSeq],
    federation: [w.federation],
    shovels: [w.shovel],
    policies: [w.policy],
    runs: [w.run],
    'overflow-rules': [w.overflow],
    exchanges: [w.exchange],
    queues: [w.queue],
    bindings: [w.binding],
  };
}

interface Created {
  status: number;
  body: Record<string, unknown>;
}

/** Sends one admin request; `send` is whatever HTTP client the spec uses. */
export type AdminSend = (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<Created>;

async function created(
  send: AdminSend,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const res = await send('POST', path, body);
  if (res.status !== 201) {
    throw new Error(`fixture POST ${path} failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

const make = {
  site: async (send: AdminSend) =>
    String((await created(send, '/sites', { name: uniqueName('fx'), region: 'fixture' })).id),
  cluster: async (send: AdminSend, siteId: string) => {
    const c = await created(send, '/clusters', clusterBody(siteId));
    const nodes = c.nodes as { id: string; type: string }[];
    return {
      id: String(c.id),
      discNode: nodes.find((n) => n.type === 'disc')!.id,
      node: nodes.find((n) => n.type === 'ram')!.id,
    };
  },
  ramNode: async (send: AdminSend, clusterId: string) =>
    String(
      (
        await created(send, `/clusters/${clusterId}/nodes`, {
          name: `rabbit@${uniqueName('fx')}`,
          host: '10.0.0.5',
          amqpPort: 5672,
          managementPort: 15672,
          type: 'ram',
          // A new endpoint: the credentials come along, or the cluster stops using them.
          credentials: clusterBody('').credentials,
        })
      ).id,
    ),
  token: async (send: AdminSend) =>
    String((await created(send, '/tokens', { name: uniqueName('fx-tk'), role: 'viewer' })).id),
  federation: async (send: AdminSend, w: Pick<World, 'anchorA' | 'anchorB'>) =>
    String(
      (
        await created(send, '/links/federation', {
          name: uniqueName('fx-fed'),
          kind: 'exchange',
          downstream: { clusterId: w.anchorA, vhost: '/' },
          upstream: { clusterId: w.anchorB, vhost: '/' },
          targets: [uniqueName('orders')],
        })
      ).id,
    ),
  shovel: async (send: AdminSend, w: Pick<World, 'anchorA' | 'anchorB'>) =>
    String(
      (
        await created(send, '/links/shovels', {
          name: uniqueName('fx-sh'),
          source: { clusterId: w.anchorB, vhost: '/', queue: 'fx-q' },
          destination: { clusterId: w.anchorA, vhost: '/', queue: 'fx-q' },
        })
      ).id,
    ),
  policy: async (send: AdminSend, w: Pick<World, 'anchorA'>) =>
    String(
      (
        await created(send, '/policies', {
          name: uniqueName('fx-pol'),
          scope: 'cluster',
          clusterId: w.anchorA,
          vhost: '/',
          pattern: '^fx\\.',
          applyTo: 'queues',
          definition: { 'max-length': 1000, overflow: 'reject-publish' },
        })
      ).id,
    ),
};

const overflowRule = async (send: AdminSend, w: Pick<World, 'anchorA' | 'anchorB'>) =>
  String(
    (
      await created(send, '/overflow-rules', {
        name: uniqueName('fx-ovf'),
        source: { clusterId: w.anchorA, vhost: '/', queue: uniqueName('fx-busy') },
        remote: { clusterId: w.anchorB, vhost: '/', queue: 'fx-spill' },
        highWatermark: 1000,
        lowWatermark: 100,
      })
    ).id,
  );

const topology = {
  exchange: async (send: AdminSend, w: Pick<World, 'anchorA'>) =>
    String(
      (
        await created(send, '/exchanges', {
          clusterId: w.anchorA,
          vhost: '/',
          name: uniqueName('fx-x'),
          type: 'topic',
        })
      ).id,
    ),
  queue: async (send: AdminSend, w: Pick<World, 'anchorA'>) =>
    String(
      (
        await created(send, '/queues', {
          clusterId: w.anchorA,
          vhost: '/',
          name: uniqueName('fx-q'),
        })
      ).id,
    ),
  binding: async (send: AdminSend, w: Pick<World, 'anchorA'>) =>
    String(
      (
        await created(send, '/bindings', {
          clusterId: w.anchorA,
          vhost: '/',
          source: 'fx-orders',
          destinationType: 'queue',
          destination: uniqueName('fx-q'),
          routingKey: uniqueName('k'),
        })
      ).id,
    ),
};

export async function createWorld(send: AdminSend): Promise<World> {
  const site = await make.site(send);
  const clusterSite = await make.site(send);
  const site2 = await make.site(send);
  const cluster = await make.cluster(send, clusterSite);
  const anchors = {
    anchorA: (await make.cluster(send, clusterSite)).id,
    anchorB: (await make.cluster(send, site2)).id,
  };
  const token = await make.token(send);
  const federation = await make.federation(send, anchors);
  const shovel = await make.shovel(send, anchors);
  const policy = await make.policy(send, anchors);
  const overflow = await overflowRule(send, anchors);
  const exchange = await topology.exchange(send, anchors);
  const queue = await topology.queue(send, anchors);
  const binding = await topology.binding(send, anchors);
  // A pass against the unreachable fixture broker fails fast and is stored as a run.
  await send('POST', '/reconcile', { clusterId: anchors.anchorA });
  const stored = await send('GET', '/reconcile/runs?limit=1');
  const runs = (stored.status === 200 ? (stored.body.items ?? []) : []) as { id?: string }[];
  const audit = await send('GET', '/audit?limit=1');
  const events = (audit.body.items ?? []) as { seq: string }[];
  return {
    site,
    clusterSite,
    site2,
    cluster: cluster.id,
    discNode: cluster.discNode,
    node: cluster.node,
    ...anchors,
    token,
    federation,
    shovel,
    policy,
    overflow,
    exchange,
    queue,
    binding,
    auditSeq: audit.status === 200 && events.length > 0 ? events[0].seq : '1',
    run: runs[0]?.id ?? '00000000-0000-4000-8000-000000000000',
  };
}

/**
 * Replaces the primaries a successful DELETE removed (checked in the database), so later
 * requests address live resources again. Cheap when nothing is gone: one query.
 */
export async function repairWorld(w: World, send: AdminSend, ds: DataSource): Promise<World> {
  const [row] = (await ds.query(
    `SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1) AS site,
            EXISTS (SELECT 1 FROM clusters WHERE id = $2) AS cluster,
            EXISTS (SELECT 1 FROM nodes WHERE id = $3) AS node,
            EXISTS (SELECT 1 FROM nodes WHERE id = $4) AS disc,
            EXISTS (SELECT 1 FROM federation_links WHERE id = $5) AS federation,
            EXISTS (SELECT 1 FROM shovels WHERE id = $6) AS shovel,
            EXISTS (SELECT 1 FROM policies WHERE id = $7) AS policy,
            EXISTS (SELECT 1 FROM overflow_rules WHERE id = $8) AS overflow,
            EXISTS (SELECT 1 FROM topology_objects WHERE id = $9) AS exchange,
            EXISTS (SELECT 1 FROM topology_objects WHERE id = $10) AS queue,
            EXISTS (SELECT 1 FROM topology_objects WHERE id = $11) AS binding`,
    [
      w.site,
      w.cluster,
      w.node,
      w.discNode,
      w.federation,
      w.shovel,
      w.policy,
      w.overflow,
      w.exchange,
      w.queue,
      w.binding,
    ],
  )) as Record<
    | 'site'
    | 'cluster'
    | 'node'
    | 'disc'
    | 'federation'
    | 'shovel'
    | 'policy'
    | 'overflow'
    | 'exchange'
    | 'queue'
    | 'binding',
    boolean
  >[];
  const out = { ...w };
  if (!row.site) out.site = await make.site(send);
  if (!row.cluster) {
    const c = await make.cluster(send, w.clusterSite);
    Object.assign(out, { cluster: c.id, discNode: c.discNode, node: c.node });
  } else {
    if (!row.node) out.node = await make.ramNode(send, w.cluster);
    if (!row.disc) {
      const nodes = (await ds.query(
        `SELECT id FROM nodes WHERE cluster_id = $1 AND id <> $2 ORDER BY seq`,
        [w.cluster, out.node],
      )) as { id: string }[];
      out.discNode = nodes[0]?.id ?? out.node;
    }
  }
  if (!row.federation) out.federation = await make.federation(send, w);
  if (!row.shovel) out.shovel = await make.shovel(send, w);
  if (!row.policy) out.policy = await make.policy(send, w);
  if (!row.overflow) out.overflow = await overflowRule(send, w);
  if (!row.exchange) out.exchange = await topology.exchange(send, w);
  if (!row.queue) out.queue = await topology.queue(send, w);
  if (!row.binding) out.binding = await topology.binding(send, w);
  return out;
}

/** createWorld over supertest with an admin token. */
export function supertestSend(t: TestApp, adminToken: string): AdminSend {
  return async (method, path, body) => {
    const res =
      method === 'GET'
        ? await t.http.get(path).set(bearer(adminToken))
        : await t.http
            .post(path)
            .set(bearer(adminToken))
            .send(body as object);
    return { status: res.status, body: res.body as Record<string, unknown> };
  };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface RawRequest {
  method: string;
  /** Sent verbatim as the request target: encode it yourself. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A keep-alive client for the app listening on a real port. Unlike supertest it sends the
 * request target byte for byte (no URL normalisation), which the fuzzer needs, and reuses one
 * connection, which keeps it at several hundred requests per second.
 */
export class RawClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  private constructor(private readonly port: number) {}

  static async listen(t: TestApp): Promise<RawClient> {
    const server = t.app.getHttpServer() as Server;
    if (!server.listening) await t.app.listen(0, '127.0.0.1');
    return new RawClient((server.address() as AddressInfo).port);
  }

  /**
   * Sends one request. A keep-alive socket the server closed just as it was reused (its idle
   * timer can fire late when the event loop was blocked) is retried once on a new socket, as
   * the Node documentation recommends: the server never saw that attempt.
   */
  async send(req: RawRequest): Promise<RawResponse> {
    try {
      return await this.attempt(req);
    } catch (err) {
      if ((err as { reused?: boolean }).reused) return this.attempt(req);
      throw err;
    }
  }

  private attempt(req: RawRequest): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...req.headers };
      if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
      const r = httpRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          method: req.method,
          path: req.path,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      r.on('error', (err: NodeJS.ErrnoException) => {
        const reused = r.reusedSocket && err.code === 'ECONNRESET';
        reject(Object.assign(err, { reused }));
      });
      if (req.body !== undefined) r.write(req.body);
      r.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * The registry tables and what of each row an API request may write. Columns written in the
 * background are left out: api_tokens.last_used_at (fire-and-forget on authentication) and the
 * clusters' observation columns.
 */
const registryTables: Record<string, string> = {
  sites: 'x',
  clusters: `row(x.id, x.site_id, x.name, x.broker_cluster_name, x.management_scheme,
    x.link_endpoints, x.vhosts, x.admin_username, x.admin_password_enc, x.credentials_version,
    x.replication, x.partition_handling, x.version, x.created_at, x.updated_at)`,
  nodes: 'x',
  api_tokens: `row(x.id, x.name, x.role, x.token_hash, x.prefix, x.expires_at, x.revoked_at,
    x.version, x.created_at, x.updated_at)`,
  federation_links: 'x',
  shovels: 'x',
  policies: 'x',
  overflow_rules: 'x',
  topology_objects: 'x',
  link_health: 'x',
};

export type Checksum = Record<string, string>;

const checksumSql = new WeakMap<DataSource, string>();

/**
 * Row count plus an order-independent sum of row hashes for each registry table that exists:
 * one cheap query, equal before and after a request that changed nothing.
 */
export async function registryChecksum(ds: DataSource): Promise<Checksum> {
  let sql = checksumSql.get(ds);
  if (!sql) {
    const present: string[] = [];
    for (const table of Object.keys(registryTables)) {
      const [r] = (await ds.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [table])) as {
        ok: boolean;
      }[];
      if (r.ok) present.push(table);
    }
    sql = `SELECT ${present
      .map(
        (t) =>
          `(SELECT count(*) || ':' || coalesce(sum(hashtext((${registryTables[t]})::text)::bigint), 0) FROM ${t} x) AS ${t}`,
      )
      .join(',\n')}`;
    checksumSql.set(ds, sql);
  }
  const rows = (await ds.query(sql)) as Checksum[];
  return rows[0];
}

export function dataSourceOf(t: TestApp): DataSource {
  return t.app.get(DataSource);
}

/** Why a 4xx response is not RFC 9457 problem+json as the API promises; undefined when it is. */
export function problemViolation(
  status: number,
  contentType: string | undefined,
  text: string,
): string | undefined {
  if (!problemJson.test(contentType ?? '')) {
    return `content-type is ${JSON.stringify(contentType)}, not application/problem+json`;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'body is not JSON';
  }
  if (typeof body !== 'object' || body === null) return 'body is not a JSON object';
  const p = body as Record<string, unknown>;
  if (p.status !== status) return `body.status ${JSON.stringify(p.status)} != HTTP ${status}`;
  if (typeof p.type !== 'string' || p.type.length === 0) return 'body.type missing';
  if (typeof p.title !== 'string' || p.title.length === 0) return 'body.title missing';
  return undefined;
}

export function truncate(s: string, n = 300): string {
  return s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s;
}
