/**
 * bench/reconcile's service measurement: the built service (dist/) on a throw-away database,
 * one registered cluster (dc1 of the sites) whose one vhost holds `policies` registry policies,
 * and a cold apply of it through `POST /reconcile` (ledger, audit trail, run record and all).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { runMigrations } from '../../src/database/migrate';
import { createDatabase, dropDatabase } from '../../test/helpers/postgres';
import type { LocalSite, SitesState, TestManagement } from '../../test/helpers/sites';
import { checkBuild, cpuSecondsOf, root, startService } from './service';

export interface ServiceApply {
  vhost: string;
  clusterId: string;
  /** Empties the vhost and the cluster's ledger: the next pass is a cold apply again. */
  reset(): Promise<void>;
  /** One `POST /reconcile` of the cluster, timed. */
  pass(): Promise<ServicePass>;
}

export interface ServicePass {
  ms: number;
  status: string;
  created: number;
  failed: number;
  /** The run's own figures (applyMs, applyRequests, ...). */
  summary: Record<string, unknown>;
  /** CPU time of the service process during the request. */
  serviceCpuMs: number;
}

/** Five families of cluster-scoped queue policies, each with a distinct anchored pattern. */
function policyRow(i: number) {
  const n = String(i).padStart(4, '0');
  const families: [string, Record<string, unknown>][] = [
    [`^bench\\.orders\\.${n}(\\..*)?$`, { 'max-length': 10000 + i, overflow: 'drop-head' }],
    [
      `^bench\\.dlx\\.${n}$`,
      { 'dead-letter-exchange': 'bench.overflow', 'dead-letter-routing-key': `bench.dl.${n}` },
    ],
    [`^bench\\.ha\\.${n}$`, { 'ha-mode': 'exactly', 'ha-params': 2, 'ha-sync-mode': 'automatic' }],
    [
      `^bench\\.limits\\.${n}$`,
      { 'message-ttl': 3600000, expires: 86400000, 'max-length-bytes': 104857600 },
    ],
    [`^bench\\.lazy\\.${n}$`, { 'queue-mode': 'lazy', 'message-ttl': 60000 + i }],
  ];
  const [pattern, definition] = families[i % families.length];
  return { name: `bench-${n}`, pattern, definition, priority: i % 10 };
}

export async function startServiceApply(args: {
  state: SitesState;
  site: LocalSite;
  mgmt: TestManagement;
  policies: number;
  concurrency: number;
  allowStale: boolean;
  log: (msg: string) => void;
  /** Registers a cleanup step (run in reverse order at the end, also on Ctrl-C). */
  onCleanup: (fn: () => Promise<void>) => void;
}): Promise<ServiceApply> {
  const { state, site, mgmt, log } = args;
  checkBuild(args.allowStale);
  const db = await createDatabase('crossdock_bench_reconcile');
  args.onCleanup(() => dropDatabase(db.name));
  await runMigrations(db.url);
  const pg = new Client({ connectionString: db.url });
  await pg.connect();
  args.onCleanup(() => pg.end());
  const token = `bench-bootstrap-${randomBytes(24).toString('hex')}`;
  const svc = await startService(
    {
      DATABASE_URL: db.url,
      CROSSDOCK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      CROSSDOCK_AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
      CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: token,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      // Passes are started by the bench only.
      RECONCILE_ENABLED: 'false',
      RECONCILE_INTERVAL_MS: '0',
      RECONCILE_CONCURRENCY: String(args.concurrency),
      PROBES_ENABLED: 'false',
      OVERFLOW_ENABLED: 'false',
    },
    join(root, '.local', 'bench'),
  );
  args.onCleanup(() => svc.stop());
  log(`service up (pid ${svc.pid}), database ${db.name}`);

  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${svc.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(600000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  };

  const enc = encodeURIComponent;
  const vhost = `bench-service-${randomBytes(4).toString('hex')}`;
  const vhostPath = `/api/vhosts/${enc(vhost)}`;
  const dropVhost = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        await mgmt.request('DELETE', vhostPath);
        return;
      } catch (err) {
        if (String(err).includes('-> 404') || attempt >= 3) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  const makeVhost = async () => {
    await mgmt.request('PUT', vhostPath, {});
    await mgmt.request('PUT', `/api/permissions/${enc(vhost)}/${enc(state.admin.username)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
  };
  args.onCleanup(dropVhost);
  await makeVhost();

  const s = await api<{ id: string }>('POST', '/sites', {
    name: `bench-${randomBytes(3).toString('hex')}`,
    region: site.name,
  });
  const cluster = await api<{ id: string }>('POST', '/clusters', {
    siteId: s.id,
    name: 'main',
    brokerClusterName: site.clusterName,
    linkEndpoints: [site.link],
    vhosts: [vhost],
    credentials: state.admin,
    nodes: site.nodes.map((n) => ({
      name: n.name,
      host: n.host,
      amqpPort: n.amqpPort,
      managementPort: n.managementPort,
      type: n.type,
    })),
  });
  // The rows POST /policies writes, in one statement (the API path has its own tests and
  // benchmark; these patterns name distinct queues, so no conflict check could refuse one).
  const rows = Array.from({ length: args.policies }, (_, i) => policyRow(i));
  await pg.query(
    `INSERT INTO policies (name, scope, cluster_id, vhost, pattern, apply_to, priority, definition)
     SELECT x.name, 'cluster', $1, $2, x.pattern, 'queues', x.priority, x.definition
       FROM jsonb_to_recordset($3::jsonb) AS x(name varchar, pattern varchar, priority int, definition jsonb)`,
    [cluster.id, vhost, JSON.stringify(rows)],
  );
  log(`service: cluster ${cluster.id} with ${args.policies} registry policies in ${vhost}`);

  return {
    vhost,
    clusterId: cluster.id,
    async reset() {
      await dropVhost();
      await makeVhost();
      await pg.query(`DELETE FROM managed_objects WHERE cluster_id = $1`, [cluster.id]);
    },
    async pass() {
      const cpu0 = cpuSecondsOf(svc.pid);
      const t0 = performance.now();
      const res = await api<{ runs: { status: string; summary: Record<string, unknown> }[] }>(
        'POST',
        '/reconcile',
        { clusterId: cluster.id },
      );
      const ms = performance.now() - t0;
      const run = res.runs[0];
      return {
        ms,
        status: run?.status ?? 'none',
        created: Number(run?.summary.created ?? 0),
        failed: Number(run?.summary.failed ?? 0),
        summary: run?.summary ?? {},
        serviceCpuMs: (cpuSecondsOf(svc.pid) - cpu0) * 1000,
      };
    },
  };
}
