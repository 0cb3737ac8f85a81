import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMigrations } from '../../src/database/migrate';
import { bearer, bootstrapToken, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import {
  adminUrl,
  createDatabase,
  createServiceRole,
  dropDatabase,
  dropRole,
  urlAs,
  withClient,
} from '../helpers/postgres';

const admin = () => bearer(bootstrapToken());

/**
 * The production layout: a non-superuser owner role runs the migrations, the service runs as a
 * role that may only insert and read audit rows, and signed checkpoints also go to an external
 * append-only file. The owner can still disable the triggers and delete the newest events and
 * every checkpoint; verify must then say so, against the external file.
 */
describe('audit evidence the database owner cannot erase quietly', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let ownerRole: string;
  let service: { role: string; url: string };
  let ownerUrl: string;
  let dir: string;
  let sinkFile: string;

  beforeAll(async () => {
    db = await createDatabase('crossdock_owner');
    ownerRole = `${db.name}_own`;
    await withClient(adminUrl, async (c) => {
      await c.query(`CREATE ROLE "${ownerRole}" LOGIN`);
      await c.query(`ALTER DATABASE "${db.name}" OWNER TO "${ownerRole}"`);
    });
    ownerUrl = urlAs(db.url, ownerRole);
    service = await createServiceRole(db);
    await runMigrations(ownerUrl, 'up', service.role);
    dir = mkdtempSync(join(tmpdir(), 'crossdock-sink-'));
    sinkFile = join(dir, 'audit-checkpoints.ndjson');
    t = await createTestApp({
      DATABASE_URL: service.url,
      AUDIT_CHECKPOINT_INTERVAL_MS: '0',
      AUDIT_CHECKPOINT_FILE: sinkFile,
    });
  }, 120000);
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    if (service) await dropRole(service.role);
    if (ownerRole) await dropRole(ownerRole);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const asService = (text: string) => withClient(service.url, (c) => c.query(text));
  const asOwner = (statements: string[]) =>
    withClient(ownerUrl, async (c) => {
      for (const s of statements) await c.query(s);
    });
  const verify = async () => (await t.http.get('/audit/verify').set(admin()).expect(200)).body;
  const newSites = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await t.http
        .post('/sites')
        .set(admin())
        .send({ name: uniqueName('own'), region: 'r' })
        .expect(201);
    }
  };

  it('gives the service role insert and read on audit rows, nothing more', async () => {
    await newSites(3);
    const refused: [string, RegExp][] = [
      ['UPDATE audit_events SET action = action', /permission denied/],
      ['DELETE FROM audit_events', /permission denied/],
      ['TRUNCATE audit_events', /permission denied/],
      ['DELETE FROM audit_checkpoints', /permission denied/],
      ['ALTER TABLE audit_events DISABLE TRIGGER USER', /must be owner/],
      ['DROP TABLE audit_events', /must be owner/],
      ['SET session_replication_role = replica', /permission denied/],
    ];
    for (const [sql, why] of refused) {
      await expect(asService(sql)).rejects.toThrow(why);
    }
    // The registry stays writable for the service (the sites above) and readable.
    const rows = await asService('SELECT count(*) AS n FROM audit_events');
    expect(Number(rows.rows[0].n)).toBeGreaterThanOrEqual(3);

    await t.http.post('/audit/checkpoints').set(admin()).expect(201);
    const v = await verify();
    expect(v).toMatchObject({
      ok: true,
      protection: {
        triggersArmed: true,
        serviceRoleCanModify: false,
        externalSink: 'ok',
      },
    });
    expect(v.warnings ?? []).toEqual([]);
  });

  it('writes each signed checkpoint to the external file once', async () => {
    await newSites(2);
    const head = (await t.http.post('/audit/checkpoints').set(admin()).expect(201)).body;
    await t.http.post('/audit/checkpoints').set(admin()).expect(201);
    const lines = readFileSync(sinkFile, 'utf8').trim().split('\n');
    const entries = lines.map((l) => JSON.parse(l) as { kind: string; seq: string; hash: string });
    expect(entries.filter((e) => e.seq === head.seq)).toHaveLength(1);
    expect(entries[entries.length - 1]).toMatchObject({
      kind: 'head',
      seq: head.seq,
      hash: head.hash,
    });
  });

  it('detects the owner disabling the triggers and deleting the tail and the checkpoints', async () => {
    await newSites(3);
    const head = (await t.http.post('/audit/checkpoints').set(admin()).expect(201)).body;
    const cut = String(Number(head.seq) - 3);
    await asOwner([
      'ALTER TABLE audit_events DISABLE TRIGGER USER',
      'ALTER TABLE audit_checkpoints DISABLE TRIGGER USER',
      `DELETE FROM audit_events WHERE seq > ${cut}`,
      'DELETE FROM audit_checkpoints',
    ]);
    let v = await verify();
    expect(v).toMatchObject({
      ok: false,
      truncated: { anchoredSeq: head.seq, lastSeq: cut, source: 'external-sink' },
      protection: { triggersArmed: false, externalHead: { seq: head.seq, hash: head.hash } },
    });
    expect(v.problems.join(' ')).toMatch(/triggers are disabled or missing on audit_events/);

    // Covering the tracks (triggers back on) still leaves the external evidence.
    await asOwner([
      'ALTER TABLE audit_events ENABLE TRIGGER USER',
      'ALTER TABLE audit_checkpoints ENABLE TRIGGER USER',
    ]);
    v = await verify();
    expect(v).toMatchObject({
      ok: false,
      truncated: { anchoredSeq: head.seq, source: 'external-sink' },
      protection: { triggersArmed: true },
    });

    // New events reuse the deleted seqs with other hashes: the anchor no longer matches.
    await newSites(4);
    v = await verify();
    expect(v).toMatchObject({
      ok: false,
      broken: { seq: head.seq, reason: expect.stringMatching(/external-sink anchor/) },
    });
  });

  it('reports an edited or forged line in the external file', async () => {
    appendFileSync(
      sinkFile,
      `${JSON.stringify({ kind: 'head', seq: '999999', hash: 'f'.repeat(64), signature: '0'.repeat(64), at: new Date().toISOString() })}\n`,
    );
    const v = await verify();
    expect(v.ok).toBe(false);
    expect(v.problems.join(' ')).toMatch(/1 line\(s\) with an invalid signature/);
  });
});
