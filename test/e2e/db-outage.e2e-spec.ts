import { runMigrations } from '../../src/database/migrate';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { withClient } from '../helpers/postgres';
import { PrivatePostgres } from '../helpers/private-postgres';

const problemJson = /^application\/problem\+json/;

describe('database outage (private Postgres instance)', () => {
  let pg: PrivatePostgres;
  let t: TestApp;

  beforeAll(async () => {
    pg = await PrivatePostgres.create();
    await withClient(pg.url, (c) => c.query('CREATE DATABASE crossdock'));
    await runMigrations(pg.urlFor('crossdock'));
    t = await createTestApp({ DATABASE_URL: pg.urlFor('crossdock') });
  }, 120000);

  afterAll(async () => {
    await t?.close();
    await pg?.destroy();
  });

  it('answers 503 problem+json within 2 s while Postgres is down and recovers by itself', async () => {
    const admin = bearer(bootstrapToken());
    await t.http.post('/sites').set(admin).send({ name: 'outage-site', region: 'r' }).expect(201);
    await t.http.get('/sites').set(admin).expect(200);

    await pg.stop();
    expect(pg.isRunning()).toBe(false);

    for (const call of [
      () => t.http.get('/sites').set(admin),
      () => t.http.post('/sites').set(admin).send({ name: 'during-outage', region: 'r' }),
      () => t.http.get('/health/ready'),
    ]) {
      const started = Date.now();
      const res = await call();
      const elapsed = Date.now() - started;
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(problemJson);
      expect(elapsed).toBeLessThan(2000);
    }
    const live = await t.http.get('/health/live');
    expect(live.status).toBe(200);

    await pg.start();
    // The pool reconnects on its own: no service restart.
    await eventually(
      async () => {
        const res = await t.http.get('/sites').set(admin);
        return (
          res.status === 200 &&
          res.body.items.some((s: { name: string }) => s.name === 'outage-site')
        );
      },
      { timeoutMs: 15000, description: 'GET /sites succeeds after Postgres restart' },
    );
    await t.http.get('/health/ready').expect(200);
    // Nothing written during the outage.
    const res = await t.http.get('/sites').set(admin).expect(200);
    expect(res.body.items.map((s: { name: string }) => s.name)).not.toContain('during-outage');
  }, 60000);
});
