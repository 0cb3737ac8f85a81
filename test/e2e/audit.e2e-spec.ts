import { randomUUID, createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { pruneAuditEvents } from '../../src/audit/audit-maintenance';
import {
  buildDataSourceOptions,
  databaseSettingsFromEnv,
} from '../../src/database/data-source-options';
import { bearer, bootstrapToken, clusterBody, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { createMigratedDatabase, dropDatabase, withClient } from '../helpers/postgres';

const admin = () => bearer(bootstrapToken());

/** Events of the requests sent with this X-Request-Id (kept as their clientRequestId). */
async function eventsFor(t: TestApp, clientRequestId: string) {
  const res = await t.http.get('/audit').query({ clientRequestId }).set(admin()).expect(200);
  return res.body.items as {
    action: string;
    before: Record<string, unknown> | null;
    after: Record<string, unknown> | null;
    diff: { path: string }[];
    resource: { type: string; id: string };
    siteIds: string[];
    clusterIds: string[];
    reason: string | null;
    actor: { name: string };
  }[];
}

describe('audit trail', () => {
  let t: TestApp;
  let db: { name: string; url: string };

  beforeAll(async () => {
    // A database of its own: the tamper tests damage the chain on purpose.
    db = await createMigratedDatabase('crossdock_audit');
    t = await createTestApp({ DATABASE_URL: db.url, AUDIT_CHECKPOINT_INTERVAL_MS: '0' });
  }, 60000);
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
  });

  const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(db.url, async (c) => (await c.query(text, params)).rows as T[]);

  it('records exactly one event per mutation with before, after, diff, request id and reason', async () => {
    let rid = randomUUID();
    const site = await t.http
      .post('/sites')
      .set(admin())
      .set('X-Request-Id', rid)
      .set('X-Change-Reason', 'new DC in Frankfurt')
      .send({ name: uniqueName('a'), region: 'eu' })
      .expect(201);
    let ev = await eventsFor(t, rid);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({
      action: 'site.create',
      before: null,
      after: { name: site.body.name, region: 'eu' },
      resource: { type: 'site', id: site.body.id },
      siteIds: [site.body.id],
      reason: 'new DC in Frankfurt',
      actor: { name: 'bootstrap-admin' },
    });

    rid = randomUUID();
    await t.http
      .patch(`/sites/${site.body.id}`)
      .set(admin())
      .set('X-Request-Id', rid)
      .send({ region: 'us' })
      .expect(200);
    ev = await eventsFor(t, rid);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({
      action: 'site.update',
      before: { region: 'eu' },
      after: { region: 'us' },
    });
    expect(ev[0].diff).toEqual([{ path: 'region', before: 'eu', after: 'us' }]);

    const steps: [string, () => Promise<unknown>, string][] = [];
    const c = clusterBody(site.body.id);
    let clusterId = '';
    let ramNodeId = '';
    steps.push([
      'cluster.create',
      async () => {
        const r = await t.http
          .post('/clusters')
          .set(admin())
          .set('X-Request-Id', rid)
          .send(c)
          .expect(201);
        clusterId = r.body.id;
        ramNodeId = r.body.nodes[1].id;
      },
      'cluster',
    ]);
    steps.push([
      'cluster.update',
      () =>
        t.http
          .patch(`/clusters/${clusterId}`)
          .set(admin())
          .set('X-Request-Id', rid)
          .send({ vhosts: ['/', 'x'] })
          .expect(200),
      'cluster',
    ]);
    steps.push([
      'cluster.credentials.update',
      () =>
        t.http
          .put(`/clusters/${clusterId}/credentials`)
          .set(admin())
          .set('X-Request-Id', rid)
          .send({ username: 'u2', password: 'Rotated-Pa55-XYZ' })
          .expect(200),
      'cluster',
    ]);
    steps.push([
      'node.create',
      () =>
        t.http
          .post(`/clusters/${clusterId}/nodes`)
          .set(admin())
          .set('X-Request-Id', rid)
          .send({ name: 'rabbit@n3', host: 'h3', amqpPort: 5672, managementPort: 15672 })
          .expect(201),
      'node',
    ]);
    steps.push([
      'node.update',
      () =>
        t.http
          .patch(`/clusters/${clusterId}/nodes/${ramNodeId}`)
          .set(admin())
          .set('X-Request-Id', rid)
          .send({ host: 'h2b' })
          .expect(200),
      'node',
    ]);
    steps.push([
      'node.delete',
      () =>
        t.http
          .delete(`/clusters/${clusterId}/nodes/${ramNodeId}`)
          .set(admin())
          .set('X-Request-Id', rid)
          .expect(204),
      'node',
    ]);
    steps.push([
      'cluster.delete',
      () =>
        t.http.delete(`/clusters/${clusterId}`).set(admin()).set('X-Request-Id', rid).expect(204),
      'cluster',
    ]);
    steps.push([
      'site.delete',
      () =>
        t.http.delete(`/sites/${site.body.id}`).set(admin()).set('X-Request-Id', rid).expect(204),
      'site',
    ]);
    let tokenId = '';
    steps.push([
      'token.create',
      async () => {
        const r = await t.http
          .post('/tokens')
          .set(admin())
          .set('X-Request-Id', rid)
          .send({ name: uniqueName('tk'), role: 'viewer' })
          .expect(201);
        tokenId = r.body.id;
      },
      'token',
    ]);
    steps.push([
      'token.revoke',
      () => t.http.delete(`/tokens/${tokenId}`).set(admin()).set('X-Request-Id', rid).expect(200),
      'token',
    ]);
    for (const [action, run, type] of steps) {
      rid = randomUUID();
      await run();
      ev = await eventsFor(t, rid);
      expect({ action, count: ev.length }).toEqual({ action, count: 1 });
      expect(ev[0].action).toBe(action);
      expect(ev[0].resource.type).toBe(type);
      if (type === 'cluster' || type === 'node') expect(ev[0].siteIds).toEqual([site.body.id]);
      if (action === 'cluster.credentials.update') {
        expect(ev[0].after).toMatchObject({ credentials: '(changed)', adminUsername: 'u2' });
      }
    }
  });

  it('records exactly one event per link, shovel, policy and suspension change', async () => {
    const mk = async (name: string) => {
      const s = await t.http
        .post('/sites')
        .set(admin())
        .send({ name: uniqueName(name), region: 'r' })
        .expect(201);
      const c = await t.http
        .post('/clusters')
        .set(admin())
        .send(clusterBody(s.body.id))
        .expect(201);
      return { siteId: s.body.id as string, clusterId: c.body.id as string };
    };
    const a = await mk('la');
    const b = await mk('lb');
    let linkId = '';
    let shovelId = '';
    let policyId = '';
    const steps: [string, () => Promise<unknown>][] = [
      [
        'federation-link.create',
        async () => {
          const r = await t.http
            .post('/links/federation')
            .set(admin())
            .set('X-Request-Id', rid)
            .send({
              name: uniqueName('fl'),
              kind: 'exchange',
              downstream: { clusterId: b.clusterId, vhost: '/' },
              upstream: { clusterId: a.clusterId, vhost: '/' },
              targets: ['x'],
            })
            .expect(201);
          linkId = r.body.id;
        },
      ],
      [
        'federation-link.update',
        () =>
          t.http
            .patch(`/links/federation/${linkId}`)
            .set(admin())
            .set('X-Request-Id', rid)
            .send({ settings: { prefetchCount: 10 } })
            .expect(200),
      ],
      [
        'federation-link.pause',
        () =>
          t.http
            .post(`/links/federation/${linkId}/pause`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(200),
      ],
      [
        'federation-link.resume',
        () =>
          t.http
            .post(`/links/federation/${linkId}/resume`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(200),
      ],
      [
        'federation-link.delete',
        () =>
          t.http
            .delete(`/links/federation/${linkId}`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(204),
      ],
      [
        'shovel.create',
        async () => {
          const r = await t.http
            .post('/links/shovels')
            .set(admin())
            .set('X-Request-Id', rid)
            .send({
              name: uniqueName('sh'),
              source: { clusterId: a.clusterId, vhost: '/', queue: 'q' },
              destination: { clusterId: b.clusterId, vhost: '/', queue: 'q' },
            })
            .expect(201);
          shovelId = r.body.id;
        },
      ],
      [
        'shovel.update',
        () =>
          t.http
            .patch(`/links/shovels/${shovelId}`)
            .set(admin())
            .set('X-Request-Id', rid)
            .send({ settings: { prefetchCount: 5 } })
            .expect(200),
      ],
      [
        'shovel.pause',
        () =>
          t.http
            .post(`/links/shovels/${shovelId}/pause`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(200),
      ],
      [
        'shovel.resume',
        () =>
          t.http
            .post(`/links/shovels/${shovelId}/resume`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(200),
      ],
      [
        'shovel.delete',
        () =>
          t.http
            .delete(`/links/shovels/${shovelId}`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(204),
      ],
      [
        'policy.create',
        async () => {
          const r = await t.http
            .post('/policies')
            .set(admin())
            .set('X-Request-Id', rid)
            .send({
              name: uniqueName('po'),
              scope: 'cluster',
              clusterId: a.clusterId,
              vhost: '/',
              pattern: '^q',
              applyTo: 'queues',
              definition: { 'max-length': 10 },
            })
            .expect(201);
          policyId = r.body.id;
        },
      ],
      [
        'policy.update',
        () =>
          t.http
            .patch(`/policies/${policyId}`)
            .set(admin())
            .set('X-Request-Id', rid)
            .send({ definition: { 'max-length': 20 } })
            .expect(200),
      ],
      [
        'policy.delete',
        () =>
          t.http.delete(`/policies/${policyId}`).set(admin()).set('X-Request-Id', rid).expect(204),
      ],
      [
        'cluster.reconcile.suspend',
        () =>
          t.http
            .post(`/clusters/${a.clusterId}/suspend-reconcile`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(200),
      ],
      [
        'cluster.reconcile.resume',
        () =>
          t.http
            .post(`/clusters/${a.clusterId}/resume-reconcile`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(200),
      ],
      [
        'site.reconcile.suspend',
        () =>
          t.http
            .post(`/sites/${a.siteId}/suspend-reconcile`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(200),
      ],
      [
        'site.reconcile.resume',
        () =>
          t.http
            .post(`/sites/${a.siteId}/resume-reconcile`)
            .set(admin())
            .set('X-Request-Id', rid)
            .expect(200),
      ],
    ];
    let rid = '';
    for (const [action, run] of steps) {
      rid = randomUUID();
      await run();
      const ev = await eventsFor(t, rid);
      expect({ action, count: ev.length }).toEqual({ action, count: 1 });
      expect(ev[0].action).toBe(action);
      expect(ev[0].siteIds.length).toBeGreaterThanOrEqual(1);
    }
  });

  it('records nothing for rejected or failed changes', async () => {
    const site = await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('b'), region: 'r' })
      .expect(201);
    const attempts: [string, () => Promise<unknown>][] = [
      [
        'validation',
        () =>
          t.http
            .post('/sites')
            .set(admin())
            .set('X-Request-Id', 'rej-1')
            .send({ name: 'BAD NAME', region: 'r' })
            .expect(400),
      ],
      [
        'duplicate',
        () =>
          t.http
            .post('/sites')
            .set(admin())
            .set('X-Request-Id', 'rej-2')
            .send({ name: site.body.name, region: 'r' })
            .expect(409),
      ],
      [
        'stale',
        () =>
          t.http
            .patch(`/sites/${site.body.id}`)
            .set(admin())
            .set('X-Request-Id', 'rej-3')
            .set('If-Match', '"v99"')
            .send({ region: 'x' })
            .expect(412),
      ],
      [
        'forbidden',
        () =>
          t.http
            .post('/sites')
            .set('X-Request-Id', 'rej-4')
            .send({ name: 'x', region: 'r' })
            .expect(401),
      ],
      [
        'bad reason',
        () =>
          t.http
            .post('/sites')
            .set(admin())
            .set('X-Request-Id', 'rej-5')
            .set('X-Change-Reason', 'x'.repeat(600))
            .send({ name: uniqueName('c'), region: 'r' })
            .expect(400),
      ],
    ];
    for (const [, run] of attempts) await run();
    for (const rid of ['rej-1', 'rej-2', 'rej-3', 'rej-4', 'rej-5'])
      expect(await eventsFor(t, rid)).toHaveLength(0);

    // The disc-node rule is checked at COMMIT, after the audit row was written: both roll back.
    const c = await t.http
      .post('/clusters')
      .set(admin())
      .send(clusterBody(site.body.id))
      .expect(201);
    const disc = c.body.nodes[0];
    await t.http
      .delete(`/clusters/${c.body.id}/nodes/${disc.id}`)
      .set(admin())
      .set('X-Request-Id', 'rej-6')
      .expect(409);
    expect(await eventsFor(t, 'rej-6')).toHaveLength(0);
    const after = await t.http.get(`/clusters/${c.body.id}`).set(admin()).expect(200);
    expect(after.body.nodes.map((n: { id: string }) => n.id)).toContain(disc.id);
  });

  it('keeps one unforked chain under 20 concurrent mutations', async () => {
    const before = (await sql<{ n: string }>('SELECT count(*) AS n FROM audit_events'))[0].n;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.http
          .post('/sites')
          .set(admin())
          .send({ name: uniqueName(`p${i}`), region: 'r' }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    const after = (await sql<{ n: string }>('SELECT count(*) AS n FROM audit_events'))[0].n;
    expect(Number(after) - Number(before)).toBe(20);
    const forks = await sql(
      `SELECT prev_hash, count(*) FROM audit_events GROUP BY prev_hash HAVING count(*) > 1`,
    );
    expect(forks).toEqual([]);
    const v = await t.http.get('/audit/verify').set(admin()).expect(200);
    expect(v.body).toMatchObject({ ok: true });
  });

  describe('tamper evidence (as an attacker with database access)', () => {
    const asAttacker = (statements: string[], params: unknown[][] = []) =>
      withClient(db.url, async (c) => {
        await c.query('BEGIN');
        await c.query('SET LOCAL session_replication_role = replica');
        for (const [i, s] of statements.entries()) await c.query(s, params[i] ?? []);
        await c.query('COMMIT');
      });
    const verify = async (query: Record<string, string> = {}) =>
      (await t.http.get('/audit/verify').query(query).set(admin()).expect(200)).body;
    type Row = Record<string, unknown> & {
      seq: string;
      payload: string;
      hash: string;
      prev_hash: string;
    };
    const snapshot = () => sql<Row>('SELECT * FROM audit_events ORDER BY seq');
    const restore = async (rows: Row[]) => {
      await asAttacker(['DELETE FROM audit_events']);
      await withClient(db.url, async (c) => {
        await c.query('BEGIN');
        await c.query('SET LOCAL session_replication_role = replica');
        for (const r of rows) {
          const cols = Object.keys(r);
          await c.query(
            `INSERT INTO audit_events (${cols.join(',')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(',')})`,
            cols.map((k) => r[k]),
          );
        }
        await c.query('COMMIT');
      });
      expect((await verify()).ok).toBe(true);
    };

    beforeAll(async () => {
      for (let i = 0; i < 5; i++)
        await t.http
          .post('/sites')
          .set(admin())
          .send({ name: uniqueName('tmp'), region: 'r' })
          .expect(201);
      await t.http.post('/audit/checkpoints').set(admin()).expect(201);
    });

    it('the database refuses UPDATE, DELETE and TRUNCATE while the protection is armed', async () => {
      for (const s of [
        'UPDATE audit_events SET action = action',
        'DELETE FROM audit_events',
        'TRUNCATE audit_events',
      ]) {
        await expect(sql(s)).rejects.toThrow(/append-only/);
      }
    });

    it('detects an altered row (payload or indexed column)', async () => {
      const rows = await snapshot();
      const victim = rows[Math.floor(rows.length / 2)];
      await asAttacker(
        [
          `UPDATE audit_events SET payload = replace(payload, '"action":"', '"action":"evil.') WHERE seq = $1`,
        ],
        [[victim.seq]],
      );
      let v = await verify();
      expect(v).toMatchObject({ ok: false, broken: { seq: victim.seq } });
      await restore(rows);
      await asAttacker(
        [`UPDATE audit_events SET resource_name = 'renamed' WHERE seq = $1`],
        [[victim.seq]],
      );
      v = await verify();
      expect(v).toMatchObject({
        ok: false,
        broken: { seq: victim.seq, reason: expect.stringMatching(/resource name/) },
      });
      await restore(rows);
    });

    it('detects a deleted middle row', async () => {
      const rows = await snapshot();
      const victim = rows[3];
      await asAttacker(['DELETE FROM audit_events WHERE seq = $1'], [[victim.seq]]);
      const v = await verify();
      expect(v.ok).toBe(false);
      expect(v.broken.seq).toBe(rows[4].seq);
      expect(v.broken.reason).toMatch(/missing/);
      await restore(rows);
    });

    it('detects deleted newest rows against the anchored head', async () => {
      const head = (await t.http.get('/audit/head').set(admin()).expect(200)).body;
      expect(head.checkpoint).not.toBeNull();
      const rows = await snapshot();
      await asAttacker(
        ['DELETE FROM audit_events WHERE seq > $1'],
        [[String(Number(head.checkpoint.seq) - 2)]],
      );
      let v = await verify();
      expect(v).toMatchObject({
        ok: false,
        truncated: { anchoredSeq: head.checkpoint.seq, source: 'checkpoint' },
      });
      // Even with the checkpoints deleted too, an externally kept anchor still catches it.
      await asAttacker(['DELETE FROM audit_checkpoints']);
      v = await verify({ anchorSeq: head.seq, anchorHash: head.hash });
      expect(v).toMatchObject({ ok: false, truncated: { source: 'external' } });
      await restore(rows);
      await t.http.post('/audit/checkpoints').set(admin()).expect(201);
    });

    it('detects hashes recomputed without the HMAC key', async () => {
      const rows = await snapshot();
      const start = rows.length - 3;
      // The attacker rewrites a row and re-links everything after it, with a guessed key.
      let prev = rows[start].prev_hash;
      const statements: string[] = [];
      const params: unknown[][] = [];
      for (let i = start; i < rows.length; i++) {
        const payload =
          i === start ? rows[i].payload.replace('"action":"', '"action":"evil.') : rows[i].payload;
        const guessed =
          i % 2
            ? createHash('sha256').update(`${prev}\n${payload}`).digest('hex')
            : createHmac('sha256', 'guess').update(`${prev}\n${payload}`).digest('hex');
        statements.push(
          'UPDATE audit_events SET payload = $2, prev_hash = $3, hash = $4 WHERE seq = $1',
        );
        params.push([rows[i].seq, payload, prev, guessed]);
        prev = guessed;
      }
      await asAttacker(statements, params);
      const v = await verify();
      expect(v).toMatchObject({
        ok: false,
        broken: { seq: rows[start].seq, reason: expect.stringMatching(/hash/) },
      });
      await restore(rows);
    });
  });

  it('exports a time range as NDJSON and CSV', async () => {
    const from = new Date(Date.now() - 60 * 60 * 1000).toISOString();
    const nd = await t.http
      .get('/audit/export')
      .query({ from, format: 'ndjson' })
      .set(admin())
      .expect(200);
    expect(nd.headers['content-type']).toMatch(/application\/x-ndjson/);
    const lines = nd.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(10);
    expect(Number(lines[1].seq)).toBeGreaterThan(Number(lines[0].seq));
    const csv = await t.http
      .get('/audit/export')
      .query({ from, format: 'csv' })
      .set(admin())
      .expect(200);
    expect(csv.text.split('\n')[0]).toBe(
      'seq,occurredAt,actor,action,resourceType,resourceId,resourceName,requestId,reason,diff,hash',
    );
    await t.http.get('/audit/export').query({ format: 'xml' }).set(admin()).expect(400);
  });

  it('prunes through the maintenance command with a signed checkpoint, and the rest still verifies', async () => {
    await new Promise((r) => setTimeout(r, 20));
    const cutoff = new Date();
    await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('late'), region: 'r' })
      .expect(201);
    const key = process.env.CROSSDOCK_AUDIT_HMAC_KEY as string;
    const ds = new DataSource(
      buildDataSourceOptions(databaseSettingsFromEnv({ DATABASE_URL: db.url })),
    );
    await ds.initialize();
    try {
      const archive = join(mkdtempSync(join(tmpdir(), 'audit-')), 'archive.ndjson');
      const r = await pruneAuditEvents(ds, key, cutoff, archive);
      expect(r.archived).toBeGreaterThan(10);
      expect(readFileSync(archive, 'utf8').trim().split('\n')).toHaveLength(r.archived);
    } finally {
      await ds.destroy();
    }
    const v = (await t.http.get('/audit/verify').set(admin()).expect(200)).body;
    expect(v).toMatchObject({ ok: true });
    expect(v.checkedEvents).toBeGreaterThanOrEqual(1);
    // New events continue the chain after the prune checkpoint.
    await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('after'), region: 'r' })
      .expect(201);
    expect((await t.http.get('/audit/verify').set(admin()).expect(200)).body.ok).toBe(true);
  });

  it('never stores a credential value', async () => {
    const rows = await sql<{ payload: string }>('SELECT payload FROM audit_events');
    const all = rows.map((r) => r.payload).join('\n');
    for (const secret of ['Sup3r-S3cret-Pa55', 'Rotated-Pa55-XYZ'])
      expect(all).not.toContain(secret);
  });
});
