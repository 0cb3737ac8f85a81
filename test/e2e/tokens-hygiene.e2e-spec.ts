import { readFileSync } from 'node:fs';
import type { Role } from '../../src/common/actor/actor';
import { bearer, bootstrapToken, tokensByRole, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('tokens and HTTP hygiene', () => {
  let t: TestApp;
  let tok: Record<Role, string>;

  beforeAll(async () => {
    t = await createTestApp();
    tok = await tokensByRole(t.http, 'hygiene');
  });
  afterAll(() => t.close());

  it('honours token expiry exactly, even for a token just used (cached)', async () => {
    const expiresAt = new Date(Date.now() + 1500);
    const created = await t.http
      .post('/tokens')
      .set(bearer(tok.admin))
      .send({ name: uniqueName('short'), role: 'viewer', expiresAt: expiresAt.toISOString() })
      .expect(201);
    // Used (and cached) before it expires...
    await t.http.get('/sites').set(bearer(created.body.token)).expect(200);
    await eventually(() => Date.now() > expiresAt.getTime() + 20, { timeoutMs: 5000 });
    // ...refused at once after, not up to the cache lifetime (5 s) later.
    await t.http.get('/sites').set(bearer(created.body.token)).expect(401);
  });

  it('refuses reserved actor names for tokens', async () => {
    for (const name of ['crossdock', 'bootstrap-admin', 'Reconciler', 'probes', 'overflow ']) {
      const res = await t.http
        .post('/tokens')
        .set(bearer(tok.admin))
        .send({ name, role: 'viewer' })
        .expect(400);
      expect(res.body.errors).toEqual([
        expect.objectContaining({ field: 'name', message: expect.stringMatching(/reserved/) }),
      ]);
    }
    await t.http
      .post('/tokens')
      .set(bearer(tok.admin))
      .send({ name: uniqueName('crossdock-ci'), role: 'viewer' })
      .expect(201);
  });

  it("keeps a client's X-Request-Id as clientRequestId beside the server's own id", async () => {
    const clientId = `client-${Date.now()}.trace:1`;
    const res = await t.http
      .post('/sites')
      .set(bearer(tok.admin))
      .set('X-Request-Id', clientId)
      .send({ name: uniqueName('s'), region: 'eu-west' })
      .expect(201);
    const serverId = res.headers['x-request-id'];
    expect(serverId).toMatch(uuid);
    const events = await t.http
      .get(`/audit?resourceId=${res.body.id}`)
      .set(bearer(tok.admin))
      .expect(200);
    expect(events.body.items[0]).toMatchObject({ requestId: serverId, clientRequestId: clientId });
    const line = readFileSync(t.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes(serverId))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.clientRequestId !== undefined);
    expect(line).toMatchObject({ requestId: serverId, clientRequestId: clientId });

    // A malformed one is not kept anywhere.
    const bad = await t.http
      .post('/sites')
      .set(bearer(tok.admin))
      .set('X-Request-Id', `bad ${'x'.repeat(200)}`)
      .send({ name: uniqueName('s'), region: 'eu-west' })
      .expect(201);
    const badEvents = await t.http
      .get(`/audit?resourceId=${bad.body.id}`)
      .set(bearer(tok.admin))
      .expect(200);
    expect(badEvents.body.items[0].requestId).toBe(bad.headers['x-request-id']);
    expect(badEvents.body.items[0].clientRequestId).toBeUndefined();
  });

  it('sends security headers, a CSP that fits /docs, and no-store on secrets', async () => {
    const live = await t.http.get('/health/live').expect(200);
    expect(live.headers['x-content-type-options']).toBe('nosniff');
    expect(live.headers['x-frame-options']).toBe('DENY');
    const csp = String(live.headers['content-security-policy']);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);

    // Swagger UI: every script is loaded from this origin (the CSP allows nothing else).
    const docs = await t.http.get('/docs/').expect(200);
    expect(docs.headers['content-security-policy']).toBe(csp);
    const scripts = [...docs.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/src=["'](?!https?:)/);
      expect(body.trim()).toBe('');
    }
    const init = docs.text.match(/src=["']([^"']*swagger-ui-init\.js)["']/);
    expect(init).not.toBeNull();
    await t.http.get(`/docs/${init![1].replace(/^.*\//, '')}`).expect(200);

    const created = await t.http
      .post('/tokens')
      .set(bearer(tok.admin))
      .send({ name: uniqueName('nostore'), role: 'viewer' })
      .expect(201);
    expect(created.body.token).toBeDefined();
    expect(created.headers['cache-control']).toBe('no-store');
    const listed = await t.http.get('/sites').set(bearer(tok.viewer)).expect(200);
    expect(listed.headers['cache-control']).toBe('no-store');
  });
});

describe('the bootstrap token is for bootstrap only', () => {
  let db: { name: string; url: string };
  let t: TestApp;

  beforeAll(async () => {
    db = await createMigratedDatabase('crossdock_bootstrap');
    t = await createTestApp({
      DATABASE_URL: db.url,
      CROSSDOCK_BOOTSTRAP_AFTER_ADMIN: 'refuse',
    });
  });
  afterAll(async () => {
    await t.close();
    await dropDatabase(db.name);
  });

  it('works until a real admin token exists, then is refused', async () => {
    const boot = bearer(bootstrapToken());
    await t.http.get('/sites').set(boot).expect(200);
    await t.http
      .post('/tokens')
      .set(boot)
      .send({ name: uniqueName('viewer'), role: 'viewer' })
      .expect(201);
    await t.http.get('/sites').set(boot).expect(200); // a viewer token changes nothing
    const admin = await t.http
      .post('/tokens')
      .set(boot)
      .send({ name: uniqueName('first-admin'), role: 'admin' })
      .expect(201);
    await t.http.get('/sites').set(boot).expect(401);
    await t.http.post('/tokens').set(boot).send({ name: 'x', role: 'admin' }).expect(401);
    await t.http.get('/sites').set(bearer(admin.body.token)).expect(200);
  });

  it('stops at its configured expiry', async () => {
    const expired = await createTestApp({
      DATABASE_URL: db.url,
      CROSSDOCK_BOOTSTRAP_AFTER_ADMIN: 'allow',
      CROSSDOCK_BOOTSTRAP_EXPIRES_AT: new Date(Date.now() - 1000).toISOString(),
    });
    const allowed = await createTestApp({
      DATABASE_URL: db.url,
      CROSSDOCK_BOOTSTRAP_AFTER_ADMIN: 'allow',
      CROSSDOCK_BOOTSTRAP_EXPIRES_AT: new Date(Date.now() + 3600000).toISOString(),
    });
    try {
      await expired.http.get('/sites').set(bearer(bootstrapToken())).expect(401);
      // `allow` keeps it working beside real admin tokens, until its expiry.
      await allowed.http.get('/sites').set(bearer(bootstrapToken())).expect(200);
    } finally {
      await expired.close();
      await allowed.close();
    }
  });
});
