import { randomBytes } from 'node:crypto';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase, withClient } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  TestManagement,
  type SitesState,
} from '../helpers/sites';

const enc = encodeURIComponent;

/**
 * Background reconciliation on, with a short drift schedule: one-shot shovels complete and stay
 * gone, deletes follow the registry promptly, and only unexplained deletes stop at the guard.
 */
describe('objects removed by design, prompt deletes and the mass-delete guard (real brokers)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `oneshot-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());

  type Run = { id: string; status: string; startedAt: string; findings: { kind: string }[] };
  const runs = async (clusterId: string): Promise<Run[]> =>
    (await t.http.get('/reconcile/runs').query({ clusterId, limit: 100 }).set(admin()).expect(200))
      .body.items as Run[];
  const publish = (m: TestManagement, queue: string, payload: string) =>
    m.request('POST', `/api/exchanges/${enc(vhost)}/amq.default/publish`, {
      properties: { delivery_mode: 2 },
      routing_key: queue,
      payload,
      payload_encoding: 'string',
    });
  /** Exact: takes every message out (no 5 s statistics lag). */
  const drain = async (m: TestManagement, queue: string) =>
    (
      await m.request<{ payload: string }[]>(
        'POST',
        `/api/queues/${enc(vhost)}/${enc(queue)}/get`,
        { count: 1000, ackmode: 'ack_requeue_false', encoding: 'auto' },
      )
    ).map((x) => x.payload);
  const names = async (m: TestManagement, path: string) =>
    (await m.request<{ name: string }[]>('GET', `${path}/${enc(vhost)}`)).map((x) => x.name);
  const crossdockObjects = async (m: TestManagement) => [
    ...(await names(m, '/api/parameters/federation-upstream')).filter((n) =>
      n.startsWith('crossdock.'),
    ),
    ...(await names(m, '/api/parameters/federation-upstream-set')).filter((n) =>
      n.startsWith('crossdock.'),
    ),
    ...(await names(m, '/api/policies')).filter((n) => n.startsWith('crossdock.')),
  ];

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    db = await createMigratedDatabase('crossdock_oneshot');
    t = await createTestApp({
      DATABASE_URL: db.url,
      RECONCILE_ENABLED: 'true',
      RECONCILE_INTERVAL_MS: '1000',
    });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]);
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  });

  it('deleteAfter 50 over a queue of 100 moves exactly 50, stays completed for passes after, and rerun moves the next 50', async () => {
    await m1.request('PUT', `/api/queues/${enc(vhost)}/batch`, { durable: true });
    await m2.request('PUT', `/api/queues/${enc(vhost)}/landing`, { durable: true });
    for (let i = 0; i < 100; i++) await publish(m1, 'batch', `m${i}`);
    const sh = await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: 'batch-once',
        source: { clusterId: dc1.clusterId, vhost, queue: 'batch' },
        destination: { clusterId: dc2.clusterId, vhost, queue: 'landing' },
        settings: { deleteAfter: 50, reconnectDelaySeconds: 1 },
      })
      .expect(201);
    const id = sh.body.id as string;

    const done = await eventually(
      async () => {
        const s = await t.http.get(`/links/shovels/${id}/status`).set(admin()).expect(200);
        return s.body.verdict === 'completed' ? s.body : false;
      },
      { timeoutMs: 30000, description: 'shovel completed' },
    );
    expect(done.completion).toMatchObject({ moved: 50 });
    expect(done.completion.reason).toMatch(/src-delete-after 50/);
    const completedAt = new Date(done.completedAt as string);

    // At least three passes of the source cluster after the completion: none re-creates it.
    await eventually(
      async () =>
        (await runs(dc1.clusterId)).filter(
          (r) => r.status === 'succeeded' && new Date(r.startedAt) > completedAt,
        ).length >= 3,
      { timeoutMs: 30000, description: 'three passes after the completion' },
    );
    expect(await names(m1, '/api/parameters/shovel')).not.toContain('crossdock.sh.batch-once');
    const view = await t.http.get(`/links/shovels/${id}`).set(admin()).expect(200);
    expect(view.body.completedAt).toBe(completedAt.toISOString());
    const health = await t.http.get(`/links/shovels/${id}/health`).set(admin()).expect(200);
    expect(health.body.state).toBe('completed');
    const audit = await t.http
      .get('/audit')
      .query({ action: 'shovel.completed' })
      .set(admin())
      .expect(200);
    expect(audit.body.items.map((e: { resource: { id: string } }) => e.resource.id)).toContain(id);

    const first = await drain(m2, 'landing');
    expect(first).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    // Nothing more arrives: the other 50 wait at the source.
    expect(await drain(m2, 'landing')).toEqual([]);

    // The rerun is operator work, audited.
    const rerun = await t.http.post(`/links/shovels/${id}/rerun`).set(admin()).expect(200);
    expect(rerun.body.completedAt).toBeNull();
    const again = await eventually(
      async () => {
        const s = await t.http.get(`/links/shovels/${id}/status`).set(admin()).expect(200);
        return s.body.verdict === 'completed' && s.body.completedAt !== done.completedAt
          ? s.body
          : false;
      },
      { timeoutMs: 30000, description: 'rerun completed' },
    );
    expect(again.completion).toMatchObject({ moved: 50 });
    const second = await eventually(
      async () => {
        const got = await drain(m2, 'landing');
        return got.length ? got : false;
      },
      { timeoutMs: 10000, description: 'second batch landed' },
    );
    expect(second).toEqual(Array.from({ length: 50 }, (_, i) => `m${50 + i}`));
    expect(await drain(m1, 'batch')).toEqual([]);
    const rerunAudit = await t.http
      .get('/audit')
      .query({ action: 'shovel.rerun' })
      .set(admin())
      .expect(200);
    expect(rerunAudit.body.items).toHaveLength(1);
    // A continuous shovel has nothing to rerun.
    const continuous = await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: 'batch-continuous',
        source: { clusterId: dc1.clusterId, vhost, queue: 'batch' },
        destination: { clusterId: dc2.clusterId, vhost, queue: 'landing' },
      })
      .expect(201);
    const refused = await t.http
      .post(`/links/shovels/${continuous.body.id}/rerun`)
      .set(admin())
      .expect(409);
    expect(refused.body.detail).toMatch(/runs continuously/);
    await t.http.delete(`/links/shovels/${continuous.body.id}`).set(admin()).expect(204);
    await t.http.delete(`/links/shovels/${id}`).set(admin()).expect(204);
  });

  describe('with the default drift schedule (passes start from registry changes)', () => {
    // A short schedule keeps the clusters busy and a change arriving mid-pass waits for the next
    // tick; here the pass a change starts is what removes the objects.
    beforeAll(async () => {
      await t.close();
      t = await createTestApp({
        DATABASE_URL: db.url,
        RECONCILE_ENABLED: 'true',
        RECONCILE_INTERVAL_MS: '30000',
      });
    });

    it('deleting the only federation link removes its broker objects promptly without confirmDeletes', async () => {
      for (const m of [m1, m2])
        await m.request('PUT', `/api/exchanges/${enc(vhost)}/events`, {
          type: 'topic',
          durable: true,
        });
      await m2.request('PUT', `/api/queues/${enc(vhost)}/sink`, { durable: true });
      await m2.request('POST', `/api/bindings/${enc(vhost)}/e/events/q/sink`, { routing_key: '#' });
      const link = await t.http
        .post('/links/federation')
        .set(admin())
        .send({
          name: 'only-link',
          kind: 'exchange',
          downstream: { clusterId: dc2.clusterId, vhost },
          upstream: { clusterId: dc1.clusterId, vhost },
          targets: ['events'],
          settings: { reconnectDelaySeconds: 1 },
        })
        .expect(201);
      await eventually(
        async () => {
          const o = await crossdockObjects(m2);
          return (
            o.includes('crossdock.up.only-link') && o.some((n) => n.startsWith('crossdock.p.'))
          );
        },
        { timeoutMs: 20000, description: 'link objects on dc2' },
      );
      await eventually(async () => (await crossdockObjects(m1)).length > 0, {
        timeoutMs: 20000,
        description: 'federation queue guard policy on dc1',
      });

      // No pass in flight when the change lands (a change arriving mid-pass waits for the next).
      await eventually(
        async () => {
          for (const c of [dc1, dc2])
            if ((await runs(c.clusterId)).some((r) => r.status === 'running')) return false;
          return true;
        },
        { timeoutMs: 15000, description: 'no pass in flight' },
      );
      const deletedAt = Date.now();
      await t.http.delete(`/links/federation/${link.body.id}`).set(admin()).expect(204);
      await eventually(async () => (await crossdockObjects(m2)).length === 0, {
        timeoutMs: 10000,
        intervalMs: 50,
        description: 'upstream, upstream set and policy gone from dc2',
      });
      const elapsed = Date.now() - deletedAt;
      // Measured for the record, and the bound.
      console.log(`link objects gone from the broker ${elapsed} ms after DELETE`);
      expect(elapsed).toBeLessThanOrEqual(2000);
      await eventually(async () => (await crossdockObjects(m1)).length === 0, {
        timeoutMs: 10000,
        description: 'the upstream side sheds its guard policy too',
      });
      for (const c of [dc1, dc2]) {
        const after = (await runs(c.clusterId)).filter(
          (r) => new Date(r.startedAt).getTime() >= deletedAt,
        );
        expect(after.map((r) => r.status)).not.toContain('blocked');
        const cluster = await t.http.get(`/clusters/${c.clusterId}`).set(admin()).expect(200);
        expect(cluster.body.deleteBlocked).toBeNull();
      }
    });

    it('deleting the last policy of a cluster removes it from the broker without confirmDeletes', async () => {
      const policy = await t.http
        .post('/policies')
        .set(admin())
        .send({
          name: 'last-policy',
          scope: 'cluster',
          clusterId: dc1.clusterId,
          vhost,
          pattern: '^batch$',
          applyTo: 'queues',
          definition: { 'max-length': 1000 },
        })
        .expect(201);
      // Passes by hand (retried while another pass holds the cluster): this is about the guard.
      const pass = () =>
        eventually(
          async () => {
            const res = await t.http
              .post('/reconcile')
              .set(admin())
              .send({ clusterId: dc1.clusterId })
              .expect(200);
            return res.body.runs[0].status === 'busy'
              ? false
              : (res.body.runs[0] as Run & { summary: Record<string, number> });
          },
          { timeoutMs: 15000, description: 'a pass of dc1' },
        );
      expect((await pass()).status).toBe('succeeded');
      expect(await crossdockObjects(m1)).toHaveLength(1);
      const deletedAt = new Date();
      await t.http.delete(`/policies/${policy.body.id}`).set(admin()).expect(204);
      const removed = await pass();
      expect(removed.status).toBe('succeeded');
      expect(removed.summary).toMatchObject({ unexplainedDeletes: 0 });
      expect(await crossdockObjects(m1)).toEqual([]);
      // Neither this pass nor the one the change started stopped at the guard.
      const since = (await runs(dc1.clusterId)).filter((r) => new Date(r.startedAt) >= deletedAt);
      expect(since.map((r) => r.status)).not.toContain('blocked');
    });

    it('registry rows removed behind its back (no audited delete) stay blocked, visibly, until confirmed', async () => {
      const link = await t.http
        .post('/links/federation')
        .set(admin())
        .send({
          name: 'wiped-link',
          kind: 'exchange',
          downstream: { clusterId: dc2.clusterId, vhost },
          upstream: { clusterId: dc1.clusterId, vhost },
          targets: ['events'],
          settings: { reconnectDelaySeconds: 1 },
        })
        .expect(201);
      const id = link.body.id as string;
      await eventually(
        async () => (await crossdockObjects(m2)).includes('crossdock.up.wiped-link'),
        {
          timeoutMs: 20000,
          description: 'link objects on dc2',
        },
      );
      // A simulated wipe: the row goes by SQL, no audit event, no change notification; the
      // passes come from the schedule or by hand.
      const wipedAt = new Date();
      await withClient(db.url, (c) => c.query(`DELETE FROM federation_links WHERE id = $1`, [id]));
      for (let i = 0; i < 2; i++)
        await eventually(
          async () =>
            (
              await t.http
                .post('/reconcile')
                .set(admin())
                .send({ clusterId: dc2.clusterId })
                .expect(200)
            ).body.runs[0].status === 'blocked',
          { timeoutMs: 15000, description: 'a blocked pass' },
        );

      const cluster = await eventually(
        async () => {
          const c = await t.http.get(`/clusters/${dc2.clusterId}`).set(admin()).expect(200);
          return c.body.deleteBlocked ? c.body : false;
        },
        { timeoutMs: 15000, description: 'dc2 delete-blocked' },
      );
      expect(cluster.deleteBlocked).toMatchObject({
        unexplained: expect.any(Number),
        owners: expect.arrayContaining([`link:${id}`]),
        confirm: {
          method: 'POST',
          path: '/reconcile',
          body: { clusterId: dc2.clusterId, confirmDeletes: true },
        },
      });
      expect(cluster.deleteBlocked.reason).toMatch(/confirmDeletes/);
      const status = await t.http.get(`/links/federation/${id}/status`).set(admin()).expect(200);
      expect(status.body.verdict).toBe('delete-blocked');
      expect(status.body.deleteBlocked).toMatchObject({
        clusterId: dc2.clusterId,
        confirm: { body: { clusterId: dc2.clusterId, confirmDeletes: true } },
      });
      // Still on the broker, over the blocked passes.
      await eventually(
        async () =>
          (await runs(dc2.clusterId)).filter(
            (r) => r.status === 'blocked' && new Date(r.startedAt) >= wipedAt,
          ).length >= 2,
        { timeoutMs: 15000, description: 'two blocked passes' },
      );
      expect(await crossdockObjects(m2)).toContain('crossdock.up.wiped-link');
      const metrics = await t.http.get('/metrics').expect(200);
      const line = metrics.text
        .split('\n')
        .find((l) =>
          l.startsWith(`crossdock_reconcile_delete_blocked_total{cluster="${dc2.clusterId}"}`),
        );
      expect(Number(line?.split(' ').pop())).toBeGreaterThanOrEqual(2);
      const audit = await t.http
        .get('/audit')
        .query({ action: 'reconcile.delete-blocked' })
        .set(admin())
        .expect(200);
      // Once per block, not once per pass.
      expect(
        audit.body.items.filter(
          (e: { resource: { id: string } }) => e.resource.id === dc2.clusterId,
        ),
      ).toHaveLength(1);

      // The confirmed pass proceeds (retried while a scheduled pass holds the cluster).
      for (const c of [dc2, dc1])
        await eventually(
          async () => {
            const res = await t.http
              .post('/reconcile')
              .set(admin())
              .send({ clusterId: c.clusterId, confirmDeletes: true })
              .expect(200);
            return res.body.runs[0].status === 'succeeded';
          },
          { timeoutMs: 15000, description: 'confirmed pass succeeded' },
        );
      await eventually(
        async () =>
          !(await crossdockObjects(m2)).includes('crossdock.up.wiped-link') &&
          (await t.http.get(`/clusters/${dc2.clusterId}`).set(admin()).expect(200)).body
            .deleteBlocked === null,
        { timeoutMs: 15000, description: 'confirmed deletes applied, block cleared' },
      );
    });
  });
});
