import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { rabbitmqctl } from '../helpers/rabbitmqctl';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import { loadSites, site, TestManagement, type LocalNode, type SitesState } from '../helpers/sites';

const enc = encodeURIComponent;

interface RunRow {
  id: string;
  instance_id: string;
  status: string;
  started_at: Date;
  finished_at: Date | null;
  apply_started_at: Date | null;
  apply_finished_at: Date | null;
  summary: Record<string, unknown>;
}

interface Run {
  id: string | null;
  status: string;
  instanceId: string;
  error: string | null;
  summary: Record<string, number>;
  operations: { op: string; key: { kind: string; name: string }; ok: boolean; node?: string }[];
}

interface BrokerPolicy {
  name: string;
  pattern: string;
  definition: Record<string, unknown>;
  'apply-to': string;
}

/** The registry policies this suite creates: one prefix each, so none overlap and each compiles to one broker policy. */
const policyBody = (clusterId: string, vhost: string, name: string, maxLength: number) => ({
  name,
  scope: 'cluster',
  clusterId,
  vhost,
  pattern: `^${name}\\.`,
  applyTo: 'queues',
  definition: { 'max-length': maxLength },
});

/** Backend pids of every connection in a DataSource's pg pool, idle or checked out (the lock's too). */
function poolPids(ds: DataSource): number[] {
  const pool = (ds.driver as unknown as { master?: { _clients?: { processID?: number }[] } })
    .master;
  return (pool?._clients ?? []).map((c) => c.processID).filter((p): p is number => !!p);
}

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T>(items: T[], width: number, fn: (x: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** Sorted by start; throws with both runs when one window starts before the previous one ended. */
function expectNoOverlap(windows: { id: string; from: Date; to: Date }[]) {
  const sorted = [...windows].sort((a, b) => a.from.getTime() - b.from.getTime());
  for (let i = 1; i < sorted.length; i++) {
    const [prev, cur] = [sorted[i - 1], sorted[i]];
    if (cur.from.getTime() < prev.to.getTime())
      throw new Error(
        `runs overlap: ${prev.id} [${prev.from.toISOString()}, ${prev.to.toISOString()}] and ${cur.id} [${cur.from.toISOString()}, ${cur.to.toISOString()}]`,
      );
  }
}

/**
 * The reconciler under faults, against the real local sites: two replicas on one database
 * racing for the same cluster, the first broker node of a cluster stopped during a pass, and a
 * replica that dies (database connections gone) in the middle of applying a large plan.
 * dc2 is the reconciled cluster throughout; the suite has its own database and vhost.
 */
describe('reconcile under faults (two replicas, a stopped broker node, a dead replica)', () => {
  let state: SitesState;
  let db: { name: string; url: string };
  let pg: Client;
  let a: TestApp;
  let b: TestApp;
  let aClosed = false;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `faults-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());

  const reconcile = async (t: TestApp, extra: Record<string, unknown> = {}): Promise<Run> => {
    const res = await t.http
      .post('/reconcile')
      .set(admin())
      .send({ clusterId: dc2.clusterId, ...extra });
    if (res.status !== 200) throw new Error(`POST /reconcile: ${res.status} ${res.text}`);
    return res.body.runs[0] as Run;
  };
  const createPolicies = async (t: TestApp, names: string[], maxLength = 1000) => {
    const ids: Record<string, string> = {};
    await inParallel(names, 8, async (name) => {
      const res = await t.http
        .post('/policies')
        .set(admin())
        .send(policyBody(dc2.clusterId, vhost, name, maxLength));
      if (res.status !== 201) throw new Error(`POST /policies ${name}: ${res.status} ${res.text}`);
      ids[name] = res.body.id as string;
    });
    return ids;
  };
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> =>
    (await pg.query(sql, params)).rows as T[];
  const runRows = () =>
    query<RunRow>(
      `SELECT id, instance_id, status, started_at, finished_at, apply_started_at, apply_finished_at, summary
         FROM reconcile_runs WHERE cluster_id = $1 ORDER BY seq`,
      [dc2.clusterId],
    );
  const crossdockPolicies = async (m: TestManagement) =>
    (await m.request<BrokerPolicy[]>('GET', `/api/policies/${enc(vhost)}`)).filter((p) =>
      p.name.startsWith('crossdock.'),
    );

  beforeAll(async () => {
    state = loadSites();
    m1 = TestManagement.forSite(state, 'dc1');
    m2 = TestManagement.forSite(state, 'dc2');
    for (const m of [m1, m2]) {
      await m.request('PUT', `/api/vhosts/${enc(vhost)}`, {});
      await m.request('PUT', `/api/permissions/${enc(vhost)}/${enc(state.admin.username)}`, {
        configure: '.*',
        write: '.*',
        read: '.*',
      });
    }
    db = await createMigratedDatabase('crossdock_faults');
    pg = new Client({ connectionString: db.url, connectionTimeoutMillis: 5000 });
    await pg.connect();
    // Two replicas of the service on one database: separate pools, separate instance ids.
    a = await createTestApp({ DATABASE_URL: db.url });
    b = await createTestApp({ DATABASE_URL: db.url });
    dc1 = await registerLocalSite(a.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(a.http, state, site(state, 'dc2'), [vhost]);
  });

  afterAll(async () => {
    if (!aClosed) await a?.close();
    await b?.close();
    await pg?.end().catch(() => undefined);
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  });

  it('two replicas racing for one cluster never apply at the same time, one reports busy, and the result converges', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `race-${i}`);
    const ids = await createPolicies(a, names);
    await m1.request('PUT', `/api/exchanges/${enc(vhost)}/events`, {
      type: 'topic',
      durable: true,
    });
    await a.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'events-dc1-dc2',
        kind: 'exchange',
        downstream: { clusterId: dc2.clusterId, vhost },
        upstream: { clusterId: dc1.clusterId, vhost },
        targets: ['events'],
        settings: { reconnectDelaySeconds: 1 },
      })
      .expect(201);
    // The upstream side gets its link user first, so the link can connect once applied.
    expect((await reconcile(a, { clusterId: dc1.clusterId })).status).toBe('succeeded');

    const results: Run[] = [];
    const instanceIds = new Set<string>();
    for (let round = 0; round < 5; round++) {
      if (round > 0) {
        // Work for every round: new policies, changed definitions, a removal.
        await createPolicies(b, [`race-extra-${round}-a`, `race-extra-${round}-b`]);
        for (const name of [names[round], names[round + 10]])
          await (round % 2 ? a : b).http
            .patch(`/policies/${ids[name]}`)
            .set(admin())
            .send({ definition: { 'max-length': 2000 + round } })
            .expect(200);
        await a.http
          .delete(`/policies/${ids[names[39 - round]]}`)
          .set(admin())
          .expect(204);
      }
      // Alternate who is asked first, so either replica can win a round.
      const [first, second] = round % 2 ? [b, a] : [a, b];
      const pair = await Promise.all([reconcile(first), reconcile(second)]);
      results.push(...pair);
      pair.forEach((r) => instanceIds.add(r.instanceId));
      // Both were asked at once: at least one of them did the round's work.
      expect(pair.map((r) => r.status)).toContain('succeeded');
    }
    expect(instanceIds.size).toBe(2);
    for (const r of results) expect(['succeeded', 'busy']).toContain(r.status);
    const busy = results.filter((r) => r.status === 'busy');
    expect(busy.length).toBeGreaterThanOrEqual(1);
    // Separate instances: the database lock refused them, not the in-process guard.
    for (const r of busy) expect(r.error).toBe('another instance holds this cluster');
    expect(results.filter((r) => r.status === 'succeeded').every((r) => r.id !== null)).toBe(true);

    const last = await reconcile(b);
    expect(last.status).toBe('succeeded');
    expect(last.summary).toMatchObject({ creates: 0, updates: 0, deletes: 0 });

    const rows = await runRows();
    // Busy attempts leave no row; every pass that ran does.
    expect(rows.length).toBe(results.length - busy.length + 1);
    expect(rows.every((r) => r.status === 'succeeded')).toBe(true);
    const applied = rows.filter((r) => r.apply_started_at && r.apply_finished_at);
    expect(applied.length).toBe(rows.length);
    expectNoOverlap(
      applied.map((r) => ({ id: r.id, from: r.apply_started_at!, to: r.apply_finished_at! })),
    );
    // The whole pass (observe, plan, apply) is under the lock too.
    expectNoOverlap(rows.map((r) => ({ id: r.id, from: r.started_at, to: r.finished_at! })));
    // Registry and broker agree: 40 - 4 removed + 8 added policies, plus the link's.
    const policies = await crossdockPolicies(m2);
    expect(policies.filter((p) => p['apply-to'] === 'queues')).toHaveLength(44);
    expect(policies.filter((p) => p.definition['federation-upstream'])).toHaveLength(1);
  });

  it('fails over to the second node when the first node of the cluster is stopped', async () => {
    const dc2Site = site(state, 'dc2');
    const cluster = await a.http.get(`/clusters/${dc2.clusterId}`).set(admin()).expect(200);
    const registered = (cluster.body.nodes as { name: string }[]).map((n) => n.name);
    // The management client starts every pass at the first registered node.
    expect(registered).toEqual(dc2Site.nodes.map((n) => n.name));
    const [firstNode, secondNode]: LocalNode[] = dc2Site.nodes;
    const viaSecond = TestManagement.forSite(state, 'dc2', 1);
    const names = Array.from({ length: 6 }, (_, i) => `failover-${i}`);
    await createPolicies(a, names);

    const nodeRunning = async (name: string) =>
      (
        await viaSecond.request<{ name: string; running: boolean }[]>(
          'GET',
          '/api/nodes?columns=name,running',
        )
      ).find((n) => n.name === name)?.running === true;

    await rabbitmqctl(state, firstNode.name, 'stop_app');
    try {
      await eventually(async () => !(await nodeRunning(firstNode.name)), {
        timeoutMs: 30000,
        intervalMs: 250,
        description: `${firstNode.name} seen stopped`,
      });
      const run = await reconcile(a);
      expect(run.status).toBe('succeeded');
      expect(run.summary).toMatchObject({ creates: 6, updates: 0, deletes: 0, failed: 0 });
      // Every write was answered by the node still running.
      expect(run.operations.length).toBe(6);
      for (const o of run.operations) expect(o).toMatchObject({ ok: true, node: secondNode.name });
      const onSecond = await crossdockPolicies(viaSecond);
      for (const name of names)
        expect(onSecond.filter((p) => p.pattern === `^${name}\\.`)).toEqual([
          expect.objectContaining({ definition: { 'max-length': 1000 } }),
        ]);
    } finally {
      await rabbitmqctl(state, firstNode.name, 'start_app');
      await eventually(
        async () =>
          (await nodeRunning(firstNode.name)) &&
          (await m2.request<{ node: string }>('GET', '/api/overview?columns=node')).node ===
            firstNode.name,
        { timeoutMs: 60000, intervalMs: 250, description: `${firstNode.name} running again` },
      );
    }
    // Back on the first node: it holds the same definitions, so nothing is left to do.
    const after = await reconcile(b);
    expect(after.status).toBe('succeeded');
    expect(after.summary).toMatchObject({ creates: 0, updates: 0, deletes: 0 });
    expect(after.operations).toEqual([]);
  });

  it('a replica dying mid-apply leaves nothing another replica cannot finish: no duplicates, no orphans', async () => {
    const names = Array.from({ length: 200 }, (_, i) => `crash-${i}`);
    await createPolicies(b, names, 5000);
    const ledgerCount = async () =>
      Number(
        (
          await query<{ n: string }>(
            `SELECT count(*) AS n FROM managed_objects WHERE cluster_id = $1`,
            [dc2.clusterId],
          )
        )[0].n,
      );
    const before = await ledgerCount();

    // Replica A starts the pass; its outcome is whatever a dying process manages to send.
    const dying = reconcile(a).then(
      (r) => ({ ok: true as const, run: r }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    await eventually(async () => (await ledgerCount()) >= before + 30, {
      timeoutMs: 30000,
      intervalMs: 10,
      description: 'replica A applying',
    });
    // The crash, seen from the database: every connection of replica A is cut (its lock session
    // too) and its pool is closed, so it writes nothing more to Postgres: no ledger row, no
    // audit record, no run update. Broker writes already in flight may still land, as they would.
    const dsA = a.app.get(DataSource);
    const pids = poolPids(dsA);
    const holders = await query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('crossdock:reconcile:' || $1, 0)`,
      [dc2.clusterId],
    );
    // A holds the cluster lock on its own lock session (B runs no pass): it is cut with the rest.
    expect(holders).toHaveLength(1);
    expect(pids).not.toContain(holders[0].pid);
    const [holder] = await query<{ application_name: string }>(
      `SELECT application_name FROM pg_stat_activity WHERE pid = $1`,
      [holders[0].pid],
    );
    expect(holder.application_name).toBe('crossdock-cluster-lock');
    pids.push(holders[0].pid);
    const closing = dsA.destroy().catch(() => undefined);
    await query(`SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid`, [pids]);
    const outcome = await Promise.race([
      dying,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('replica A never answered after its crash')), 30000),
      ),
    ]);
    await closing;
    await a.close();
    aClosed = true;
    // A could not finish its run: either the request failed outright, or the pass reported failure.
    if (outcome.ok) expect(outcome.run.status).not.toBe('succeeded');
    const mid = await ledgerCount();
    expect(mid).toBeLessThan(before + 200);
    const landed = (await crossdockPolicies(m2)).filter((p) => p.pattern.startsWith('^crash-'));
    expect(landed.length).toBeLessThan(200);

    // Replica B takes over at once (the lock died with A's session) and finishes the job.
    const takeover = await reconcile(b);
    expect(takeover.status).toBe('succeeded');
    expect(takeover.summary.failed).toBe(0);
    expect(takeover.summary.deletes).toBe(0);
    // Exactly what A did not get onto the broker: nothing lost, nothing written twice.
    expect(takeover.summary.creates).toBe(200 - landed.length);
    const final = await reconcile(b);
    expect(final.summary).toMatchObject({ creates: 0, updates: 0, deletes: 0 });

    // Exactly the desired objects: one broker policy per registry policy, none twice.
    const registry = await query<{ name: string; definition: Record<string, unknown> }>(
      `SELECT name, definition FROM policies WHERE cluster_id = $1 AND vhost = $2`,
      [dc2.clusterId, vhost],
    );
    const policies = await crossdockPolicies(m2);
    const queuePolicies = policies.filter((p) => p['apply-to'] === 'queues');
    expect(queuePolicies).toHaveLength(registry.length);
    expect(new Set(queuePolicies.map((p) => p.pattern)).size).toBe(queuePolicies.length);
    const byPattern = new Map(queuePolicies.map((p) => [p.pattern, p]));
    for (const r of registry)
      expect(byPattern.get(`^${r.name}\\.`)?.definition).toEqual(r.definition);

    // Ledger and broker name the same crossdock objects (no orphans either way).
    const onBroker = new Set<string>(policies.map((p) => `policy ${p.name}`));
    for (const kind of ['federation-upstream', 'federation-upstream-set', 'shovel'])
      for (const p of await m2.request<{ name: string }[]>(
        'GET',
        `/api/parameters/${kind}/${enc(vhost)}`,
      ))
        if (p.name.startsWith('crossdock.')) onBroker.add(`${kind} ${p.name}`);
    const ledger = await query<{ kind: string; name: string }>(
      `SELECT kind, name FROM managed_objects WHERE cluster_id = $1 AND vhost = $2 AND name LIKE 'crossdock.%'`,
      [dc2.clusterId, vhost],
    );
    expect(new Set(ledger.map((l) => `${l.kind} ${l.name}`))).toEqual(onBroker);
    expect(ledger.length).toBe(onBroker.size);
  });
});
