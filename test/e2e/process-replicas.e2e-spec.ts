import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, bootstrapToken } from '../helpers/api';
import { eventually } from '../helpers/eventually';
import { lockHolders } from '../helpers/lock-holders';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import { seedPolicies } from '../helpers/seeding';
import {
  killAllServiceProcesses,
  startTestService,
  type ServiceProcess,
} from '../helpers/service-process';
import {
  createSharedVhost,
  loadSites,
  site,
  TestManagement,
  type SitesState,
} from '../helpers/sites';

const enc = encodeURIComponent;

/** Lock session idle timeout, drift schedule and probe interval of the three replicas. */
const lockTimeoutMs = 3000;
const reconcileIntervalMs = 2000;
const probeIntervalMs = 500;
/** Scheduling noise allowed on top of each bound (2 cores shared with other test runs). */
const slackMs = 2500;
const perCluster = 100;

interface RunRow {
  id: string;
  instance_id: string;
  status: string;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
}

const ofPid = (pid: number) => `%:${pid}:%`;

/**
 * Issue #8: three replica processes (A, B, C) on one database, reconciling and probing. While A
 * and B each hold a cluster in the middle of an apply, and probe paths, A is killed (SIGKILL) and
 * B frozen (SIGSTOP). C takes over both clusters and every probe path within the stated bounds,
 * and B, resumed (SIGCONT) after C took its cluster, does not write to that cluster's broker.
 */
describe('replica processes killed and frozen (issue #8)', () => {
  let state: SitesState;
  let db: { name: string; url: string };
  let pg: Client;
  let steer: Client;
  let procs: ServiceProcess[] = [];
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  const vhost = `replicas-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> =>
    (await pg.query(sql, params)).rows as T[];
  const lockKey = `hashtextextended('crossdock:reconcile:' || $1, 0)`;

  beforeAll(async () => {
    state = loadSites();
    await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_replicas');
    pg = new Client({ connectionString: db.url, connectionTimeoutMillis: 5000 });
    await pg.connect();
    steer = new Client({ connectionString: db.url, connectionTimeoutMillis: 5000 });
    await steer.connect();
    const env = {
      DATABASE_URL: db.url,
      LOG_LEVEL: 'debug',
      RECONCILE_ENABLED: 'true',
      RECONCILE_INTERVAL_MS: String(reconcileIntervalMs),
      // One write in flight: a 100-policy apply lasts seconds, long enough to be cut.
      RECONCILE_CONCURRENCY: '1',
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: String(probeIntervalMs),
      LOCK_SESSION_TIMEOUT_MS: String(lockTimeoutMs),
      OVERFLOW_ENABLED: 'false',
    };
    procs = await Promise.all([
      startTestService(env),
      startTestService(env),
      startTestService(env),
    ]);
    const http = request(procs[0].url);
    dc1 = await registerLocalSite(http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(http, state, site(state, 'dc2'), [vhost]);
  }, 180000);

  afterAll(async () => {
    await killAllServiceProcesses();
    await steer?.end().catch(() => undefined);
    await pg?.end().catch(() => undefined);
    if (db) await dropDatabase(db.name);
    for (const name of ['dc1', 'dc2'])
      if (state) await TestManagement.forSite(state, name).deleteVhost(vhost);
  });

  it('C takes over the clusters and probe paths of a killed A and a frozen B in time; B resumed writes nothing', async () => {
    const m1 = TestManagement.forSite(state, 'dc1');
    const m2 = TestManagement.forSite(state, 'dc2');
    const http = request(procs[0].url);
    for (const m of [m1, m2])
      await m.request('PUT', `/api/exchanges/${enc(vhost)}/events`, {
        type: 'topic',
        durable: true,
      });
    for (const [up, down] of [
      [dc1, dc2],
      [dc2, dc1],
    ])
      await http
        .post('/links/federation')
        .set(admin())
        .send({
          name: `events-${up.local.name}-${down.local.name}`,
          kind: 'exchange',
          downstream: { clusterId: down.clusterId, vhost },
          upstream: { clusterId: up.clusterId, vhost },
          targets: ['events'],
          settings: { reconnectDelaySeconds: 1 },
        })
        .expect(201);
    const clusters = [dc1.clusterId, dc2.clusterId];
    const paths = [
      `federation:${dc1.clusterId}:${dc2.clusterId}`,
      `federation:${dc2.clusterId}:${dc1.clusterId}`,
    ];
    const pids = procs.map((p) => p.pid);
    const byPid = (pid: number) => procs.find((p) => p.pid === pid) as ServiceProcess;
    const pathHolders = () => lockHolders(pg, 'probe', paths, pids);

    // Both paths probed, by two different replicas. A replica takes every free path at once, so
    // the test hands them out: it takes both locks itself (closing the holders' lock sessions;
    // its own blocked request is granted first), then frees one, then the other.
    const pathKey = `hashtextextended('crossdock:probe:' || $1, 0)`;
    const steerPid = (await steer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]
      .pid;
    const grab = async (id: string) => {
      const taking = steer.query(`SELECT pg_advisory_lock(${pathKey})`, [id]);
      await eventually(
        async () => {
          await query(
            `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND ((l.classid::bigint << 32) | l.objid::bigint) = ${pathKey} AND l.pid <> $2`,
            [id, steerPid],
          );
          return Promise.race([taking.then(() => true), sleep(200).then(() => false)]);
        },
        { timeoutMs: 20000, intervalMs: 50, description: `test holding ${id}` },
      );
    };
    const holderOf = (id: string) =>
      eventually(async () => (await pathHolders()).get(id) ?? false, {
        timeoutMs: 30000,
        intervalMs: 100,
        description: `a replica holding ${id}`,
      });
    let holders = new Map<string, number>();
    for (let attempt = 0; attempt < 8 && new Set(holders.values()).size < 2; attempt++) {
      for (const id of paths) await grab(id);
      holders = new Map();
      for (const id of paths) {
        await steer.query(`SELECT pg_advisory_unlock(${pathKey})`, [id]);
        holders.set(id, await holderOf(id));
      }
    }
    let a = byPid(holders.get(paths[0]) as number);
    let b = byPid(holders.get(paths[1]) as number);
    expect(a.pid).not.toBe(b.pid);
    let c = procs.find((p) => p !== a && p !== b) as ServiceProcess;

    // Both clusters converged (links, probe objects) before the real work arrives.
    await eventually(
      async () => {
        for (const id of clusters) {
          const [r] = await query<{ status: string; n: number }>(
            `SELECT status, (summary->>'creates')::int + (summary->>'updates')::int + (summary->>'deletes')::int AS n
               FROM reconcile_runs WHERE cluster_id = $1 AND status <> 'busy' ORDER BY seq DESC LIMIT 1`,
            [id],
          );
          if (r?.status !== 'succeeded' || r.n !== 0) return false;
        }
        return true;
      },
      { timeoutMs: 60000, intervalMs: 250, description: 'both clusters converged' },
    );

    // The test holds both cluster locks while it adds 100 policies per cluster (every pass
    // meanwhile answers busy), then hands dc1 to A and dc2 to B.
    for (const id of clusters) await steer.query(`SELECT pg_advisory_lock(${lockKey})`, [id]);
    for (const [cl, prefix] of [
      [dc1, 'one'],
      [dc2, 'two'],
    ] as const)
      await seedPolicies(
        pg,
        cl.clusterId,
        vhost,
        Array.from({ length: perCluster }, (_, i) => `${prefix}-${i}`),
        { 'max-length': 1000 },
      );
    // Progress of a pass, seen on the broker: the seeded policies present.
    const landed = async (m: TestManagement, prefix: string) =>
      (
        await m.request<{ name: string; pattern: string }[]>('GET', `/api/policies/${enc(vhost)}`)
      ).filter((p) => p.name.startsWith('crossdock.') && p.pattern.startsWith(`^${prefix}-`));
    // The answers of the hand-over requests: each comes when its pass ends.
    const answers = new Map<string, { status: number; body: { runs?: { status: string }[] } }>();
    let attempt = 0;
    const handTo = async (svc: ServiceProcess, id: string) => {
      await steer.query(`SELECT pg_advisory_unlock(${lockKey})`, [id]);
      const key = `${attempt} ${svc.pid} ${id}`;
      void request(svc.url)
        .post('/reconcile')
        .set(admin())
        .send({ clusterId: id })
        .then(
          (r) => answers.set(key, { status: r.status, body: r.body }),
          () => answers.set(key, { status: 0, body: {} }),
        );
    };
    // A scheduled pass of another replica may beat a hand-over: then wait for both passes to
    // end, take the locks again, delete the policies from the brokers (work for the next pass:
    // owned but missing) and hand over again. The roles follow who really holds what.
    for (; ; attempt++) {
      if (attempt > 0) {
        await eventually(
          async () =>
            (
              await query(
                `SELECT 1 FROM reconcile_runs WHERE cluster_id = ANY($1::uuid[]) AND status = 'running'`,
                [clusters],
              )
            ).length === 0,
          { timeoutMs: 60000, intervalMs: 200, description: 'passes of the last hand-over ended' },
        );
        for (const id of clusters) await steer.query(`SELECT pg_advisory_lock(${lockKey})`, [id]);
        for (const [m, prefix] of [
          [m1, 'one'],
          [m2, 'two'],
        ] as const)
          for (const p of await landed(m, prefix))
            await m.request('DELETE', `/api/policies/${enc(vhost)}/${enc(p.name)}`);
      }
      await handTo(a, dc1.clusterId);
      await handTo(b, dc2.clusterId);
      await eventually(
        async () => (await landed(m1, 'one')).length >= 5 && (await landed(m2, 'two')).length >= 5,
        { timeoutMs: 30000, intervalMs: 20, description: 'both clusters applying' },
      );
      const clusterHolders = await lockHolders(pg, 'reconcile', clusters, pids);
      const h1 = clusterHolders.get(dc1.clusterId);
      const h2 = clusterHolders.get(dc2.clusterId);
      const steered = h1 === a.pid && h2 === b.pid;
      if (steered || (attempt >= 3 && h1 !== undefined && h2 !== undefined && h1 !== h2)) {
        a = byPid(h1 as number);
        b = byPid(h2 as number);
        c = procs.find((p) => p !== a && p !== b) as ServiceProcess;
        break;
      }
      if (attempt >= 5) throw new Error('could not hand the two clusters to two replicas');
    }
    const handOvers = attempt + 1;
    const heldByAB = [...(await pathHolders())]
      .filter(([, pid]) => pid === a.pid || pid === b.pid)
      .map(([id, pid]) => ({ id, killed: pid === a.pid }));
    expect(heldByAB.length).toBeGreaterThanOrEqual(1);

    // The faults.
    a.signal('SIGKILL');
    b.signal('SIGSTOP');
    const faultAt = Date.now();
    const [{ now: faultDb }] = await query<{ now: Date }>(`SELECT now()`);

    // Takeover: C's first pass on each cluster after the fault, C holding every path.
    const pathTaken = new Map<string, number>();
    const firstRunOfC = async (id: string) =>
      (
        await query<RunRow>(
          `SELECT id, instance_id, status, error, started_at, finished_at FROM reconcile_runs
            WHERE cluster_id = $1 AND instance_id LIKE $2 AND started_at > $3 AND status <> 'busy'
            ORDER BY seq LIMIT 1`,
          [id, ofPid(c.pid), faultDb],
        )
      )[0];
    await eventually(
      async () => {
        const h = await pathHolders();
        for (const p of heldByAB)
          if (!pathTaken.has(p.id) && h.get(p.id) === c.pid)
            pathTaken.set(p.id, Date.now() - faultAt);
        const r1 = await firstRunOfC(dc1.clusterId);
        const r2 = await firstRunOfC(dc2.clusterId);
        return pathTaken.size === heldByAB.length && !!r1?.finished_at && !!r2?.finished_at;
      },
      { timeoutMs: 60000, intervalMs: 100, description: 'C took over every cluster and path' },
    );
    const r1 = await firstRunOfC(dc1.clusterId);
    const r2 = await firstRunOfC(dc2.clusterId);
    const took1 = r1.started_at.getTime() - faultDb.getTime();
    const took2 = r2.started_at.getTime() - faultDb.getTime();
    const figures = {
      handOvers,
      killedClusterMs: took1,
      frozenClusterMs: took2,
      paths: Object.fromEntries(
        heldByAB.map((p) => [
          `${p.killed ? 'killed' : 'frozen'} ${p.id.slice(0, 20)}`,
          pathTaken.get(p.id),
        ]),
      ),
    };
    console.error(`takeover figures: ${JSON.stringify(figures)}`);
    // Killed: its sessions close with the process; C's next scheduled pass takes the cluster.
    expect(took1).toBeLessThanOrEqual(reconcileIntervalMs + slackMs);
    // Frozen: held until Postgres closes the idle lock session, then C's next pass.
    expect(took2).toBeGreaterThanOrEqual(lockTimeoutMs / 2);
    expect(took2).toBeLessThanOrEqual(lockTimeoutMs + reconcileIntervalMs + slackMs);
    for (const p of heldByAB)
      expect(pathTaken.get(p.id)).toBeLessThanOrEqual(
        (p.killed ? 0 : lockTimeoutMs) + 2 * probeIntervalMs + slackMs,
      );
    // C reports from its own probes on those paths.
    await eventually(
      async () => {
        const rows = await query<{ path_id: string }>(
          `SELECT DISTINCT path_id FROM probe_samples WHERE instance_id LIKE $1 AND at > $2 AND NOT lost`,
          [ofPid(c.pid), faultDb],
        );
        return heldByAB.every((p) => rows.some((r) => r.path_id === p.id));
      },
      { timeoutMs: 20000, intervalMs: 250, description: 'C probing the taken paths' },
    );

    // B resumes once C has held its cluster: its frozen pass must not write any more.
    b.signal('SIGCONT');
    const resumedAt = Date.now();
    // Its frozen pass ends: the hand-over request answers, or (a scheduled pass) the trigger
    // logs that it did not converge.
    await eventually(
      () =>
        answers.has(`${attempt} ${b.pid} ${dc2.clusterId}`) ||
        logLines(b.logFile).some(
          (l) =>
            l.context === 'ReconcileTriggers' &&
            l.clusterId === dc2.clusterId &&
            l.time >= resumedAt,
        ),
      { timeoutMs: 60000, intervalMs: 200, description: 'B ending its frozen pass' },
    );
    const answer = answers.get(`${attempt} ${b.pid} ${dc2.clusterId}`);
    if (answer?.status === 200) expect(answer.body.runs?.[0]?.status).toBe('failed');
    const [bRun] = await query<RunRow>(
      `SELECT id, instance_id, status, error, started_at, finished_at FROM reconcile_runs
        WHERE cluster_id = $1 AND instance_id LIKE $2 AND started_at < $3 ORDER BY seq DESC LIMIT 1`,
      [dc2.clusterId, ofPid(b.pid), faultDb],
    );
    expect(bRun.status).toBe('failed');
    // B no longer holds any path, C keeps them.
    await eventually(
      async () => {
        const h = await pathHolders();
        return heldByAB.every((p) => h.get(p.id) === c.pid);
      },
      { timeoutMs: 5000, intervalMs: 100, description: 'paths stay with C' },
    );
    // Every broker write B logged for dc2: none after the resume in its frozen pass, none while
    // C held dc2 (C's passes on dc2, from the database).
    const bWrites = brokerWrites(b.logFile, dc2.clusterId);
    expect(bWrites.filter((w) => w.runId === bRun.id && w.at >= resumedAt)).toEqual([]);
    const cRuns = await query<RunRow>(
      `SELECT id, instance_id, status, error, started_at, finished_at FROM reconcile_runs
        WHERE cluster_id = $1 AND instance_id LIKE $2 AND status <> 'busy'`,
      [dc2.clusterId, ofPid(c.pid)],
    );
    for (const w of bWrites)
      for (const r of cRuns)
        if (w.at >= r.started_at.getTime() && w.at <= (r.finished_at?.getTime() ?? Infinity))
          throw new Error(
            `B wrote to dc2 at ${new Date(w.at).toISOString()} during C's run ${r.id}`,
          );
    console.error(
      `B: pass ended ${Date.now() - resumedAt} ms after SIGCONT; ${bWrites.filter((w) => w.runId === bRun.id).length} writes in its frozen pass, all before the freeze; resumed ${resumedAt - faultAt} ms after it`,
    );

    // Converged: a pass on each cluster is a no-op, and the broker holds every policy once.
    for (const id of clusters)
      await eventually(
        async () => {
          const res = await request(c.url).post('/reconcile').set(admin()).send({ clusterId: id });
          const run = res.body.runs?.[0] as { status: string; summary: Record<string, number> };
          return (
            run?.status === 'succeeded' &&
            run.summary.creates === 0 &&
            run.summary.updates === 0 &&
            run.summary.deletes === 0
          );
        },
        { timeoutMs: 30000, intervalMs: 500, description: `zero-diff pass on ${id}` },
      );
    for (const [m, prefix] of [
      [m1, 'one'],
      [m2, 'two'],
    ] as const) {
      const policies = (
        await m.request<{ name: string; pattern: string }[]>('GET', `/api/policies/${enc(vhost)}`)
      ).filter((p) => p.name.startsWith('crossdock.') && p.pattern.startsWith(`^${prefix}-`));
      expect(policies).toHaveLength(perCluster);
      expect(new Set(policies.map((p) => p.pattern)).size).toBe(perCluster);
    }
  }, 240000);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LogLine {
  time: number;
  msg?: string;
  context?: string;
  clusterId?: string;
  runId?: string;
}

/** A service process's JSON log lines. */
function logLines(logFile: string): LogLine[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** The reconciler's debug line logged right before each broker write, for one cluster. */
function brokerWrites(logFile: string, clusterId: string): { at: number; runId: string }[] {
  return logLines(logFile)
    .filter((l) => l.msg === 'broker write' && l.clusterId === clusterId)
    .map((l) => ({ at: l.time, runId: l.runId as string }));
}
