import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, bootstrapToken } from '../helpers/api';
import { eventually } from '../helpers/eventually';
import { seedPolicies } from '../helpers/seeding';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  killAllServiceProcesses,
  startTestService,
  type ServiceProcess,
} from '../helpers/service-process';
import { loadSites, site, TestManagement, type SitesState } from '../helpers/sites';

const enc = encodeURIComponent;

interface BrokerPolicy {
  name: string;
  pattern: string;
  definition: Record<string, unknown>;
  priority: number;
  'apply-to': string;
}

interface Run {
  id: string | null;
  status: string;
  instanceId: string;
  error: string | null;
  summary: Record<string, number>;
}

/**
 * Issue #5: the service as a real separate process, killed with SIGKILL in the middle of an
 * apply (250 policies on dc2), then a new process started on the same database: it converges,
 * and the broker holds exactly the desired managed objects (nothing twice, no orphan crossdock
 * object, ledger and broker agree), while objects planted by hand stay as they were.
 */
describe('service process killed with SIGKILL mid-apply (issue #5)', () => {
  let state: SitesState;
  let db: { name: string; url: string };
  let pg: Client;
  let m2: TestManagement;
  let dc2: RegisteredSite;
  const vhost = `pkill-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  // One policy each, none overlapping.
  const count = 250;

  const serviceEnv = () => ({
    DATABASE_URL: db.url,
    RECONCILE_ENABLED: 'true',
    RECONCILE_INTERVAL_MS: '0',
    // Two writes in flight: the 400-policy apply lasts seconds, long enough to be cut.
    RECONCILE_CONCURRENCY: '2',
    PROBES_ENABLED: 'false',
    OVERFLOW_ENABLED: 'false',
  });
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> =>
    (await pg.query(sql, params)).rows as T[];
  const policiesIn = (m: TestManagement) =>
    m.request<BrokerPolicy[]>('GET', `/api/policies/${enc(vhost)}`);
  const crossdockPolicies = async () =>
    (await policiesIn(m2)).filter((p) => p.name.startsWith('crossdock.'));
  const reconcile = async (svc: ServiceProcess): Promise<Run> => {
    const res = await request(svc.url)
      .post('/reconcile')
      .set(admin())
      .send({ clusterId: dc2.clusterId });
    if (res.status !== 200) throw new Error(`POST /reconcile: ${res.status} ${res.text}`);
    return res.body.runs[0] as Run;
  };

  beforeAll(async () => {
    state = loadSites();
    m2 = TestManagement.forSite(state, 'dc2');
    await m2.request('PUT', `/api/vhosts/${enc(vhost)}`, {});
    await m2.request('PUT', `/api/permissions/${enc(vhost)}/${enc(state.admin.username)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    db = await createMigratedDatabase('crossdock_pkill');
    pg = new Client({ connectionString: db.url, connectionTimeoutMillis: 5000 });
    await pg.connect();
  });

  afterAll(async () => {
    await killAllServiceProcesses();
    await pg?.end().catch(() => undefined);
    if (db) await dropDatabase(db.name);
    await m2?.deleteVhost(vhost);
  });

  it('a new process converges after the kill: no duplicate, no orphan, planted objects untouched', async () => {
    const first = await startTestService(serviceEnv());
    const http1 = request(first.url);
    dc2 = await registerLocalSite(http1, state, site(state, 'dc2'), [vhost]);
    const names = Array.from({ length: count }, (_, i) => `kill-${i}`);
    await seedPolicies(pg, dc2.clusterId, vhost, names, { 'max-length': 1000 });
    // Objects made by hand: a policy and a federation upstream crossdock does not own.
    const planted = {
      pattern: '^handmade\\.',
      definition: { 'message-ttl': 60000 },
      priority: 3,
      'apply-to': 'queues',
    };
    await m2.request('PUT', `/api/policies/${enc(vhost)}/handmade-ttl`, planted);
    const plantedUpstream = { value: { uri: 'amqp://127.0.0.1:1', 'reconnect-delay': 7 } };
    await m2.request(
      'PUT',
      `/api/parameters/federation-upstream/${enc(vhost)}/handmade-upstream`,
      plantedUpstream,
    );
    const ledgerCount = async () =>
      Number(
        (
          await query<{ n: string }>(
            `SELECT count(*) AS n FROM managed_objects WHERE cluster_id = $1 AND vhost = $2`,
            [dc2.clusterId, vhost],
          )
        )[0].n,
      );
    // The first process's pass; its answer never comes.
    const dying = reconcile(first).then(
      () => 'answered',
      () => 'no answer',
    );
    await eventually(async () => (await ledgerCount()) >= 60, {
      timeoutMs: 60000,
      intervalMs: 10,
      description: 'the first process applying',
    });
    first.signal('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(await dying).toBe('no answer');
    // Writes already sent when it died may still land: wait until the broker is steady.
    let landed = -1;
    await eventually(
      async () => {
        const before = landed;
        landed = (await crossdockPolicies()).length;
        return landed === before;
      },
      { timeoutMs: 10000, intervalMs: 300, description: 'broker steady after the kill' },
    );
    expect(landed).toBeGreaterThan(0);
    expect(landed).toBeLessThan(count);
    const [dead] = await query<{ status: string; instance_id: string }>(
      `SELECT status, instance_id FROM reconcile_runs WHERE cluster_id = $1 ORDER BY seq DESC LIMIT 1`,
      [dc2.clusterId],
    );
    expect(dead).toMatchObject({ status: 'running' });
    expect(dead.instance_id).toContain(`:${first.pid}:`);

    // A new process on the same database: the lock died with the old one's session.
    const second = await startTestService(serviceEnv());
    const takeover = await reconcile(second);
    expect(takeover.status).toBe('succeeded');
    expect(takeover.instanceId).toContain(`:${second.pid}:`);
    expect(takeover.summary).toMatchObject({ failed: 0, deletes: 0, updates: 0 });
    // Exactly what the killed process did not get onto the broker: nothing lost, nothing twice.
    expect(takeover.summary.creates).toBe(count - landed);
    const again = await reconcile(second);
    expect(again.status).toBe('succeeded');
    expect(again.summary).toMatchObject({ creates: 0, updates: 0, deletes: 0 });
    const [closed] = await query<{ status: string; error: string }>(
      `SELECT status, error FROM reconcile_runs WHERE id = (
         SELECT id FROM reconcile_runs WHERE cluster_id = $1 AND instance_id = $2 ORDER BY seq DESC LIMIT 1)`,
      [dc2.clusterId, dead.instance_id],
    );
    expect(closed).toMatchObject({ status: 'failed' });
    expect(closed.error).toMatch(/abandoned/);

    // The broker holds exactly the desired managed objects.
    const all = await policiesIn(m2);
    const ours = all.filter((p) => p.name.startsWith('crossdock.'));
    expect(ours).toHaveLength(count);
    expect(new Set(ours.map((p) => p.pattern)).size).toBe(count);
    const byPattern = new Map(ours.map((p) => [p.pattern, p]));
    for (const name of names)
      expect(byPattern.get(`^${name}\\.`)?.definition).toEqual({ 'max-length': 1000 });
    const onBroker = new Set(ours.map((p) => `policy ${p.name}`));
    for (const kind of ['federation-upstream', 'federation-upstream-set', 'shovel'])
      for (const p of await m2.request<{ name: string }[]>(
        'GET',
        `/api/parameters/${kind}/${enc(vhost)}`,
      ))
        if (p.name.startsWith('crossdock.')) onBroker.add(`${kind} ${p.name}`);
    const ledger = await query<{ kind: string; name: string }>(
      `SELECT kind, name FROM managed_objects WHERE cluster_id = $1 AND vhost = $2`,
      [dc2.clusterId, vhost],
    );
    expect(new Set(ledger.map((l) => `${l.kind} ${l.name}`))).toEqual(onBroker);
    expect(ledger).toHaveLength(onBroker.size);
    // Planted objects: still there, unchanged.
    expect(all.find((p) => p.name === 'handmade-ttl')).toMatchObject({
      pattern: planted.pattern,
      definition: planted.definition,
      priority: planted.priority,
    });
    const upstream = await m2.request<{ value: Record<string, unknown> }>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vhost)}/handmade-upstream`,
    );
    expect(upstream.value).toEqual(plantedUpstream.value);
    await second.stop();
  }, 240000);
});
