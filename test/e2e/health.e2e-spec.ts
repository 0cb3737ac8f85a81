import { bearer, bootstrapToken, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';

describe('health and conventions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('answers liveness without touching dependencies', async () => {
    const res = await t.http.get('/health/live').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers GET /health/live on its fast path exactly as the full stack does', async () => {
    // `?via=stack` takes the full stack (routing, guards, middleware); the bare path does not.
    for (const method of ['get', 'head'] as const) {
      const fast = await t.http[method]('/health/live').expect(200);
      const full = await t.http[method]('/health/live?via=stack').expect(200);
      const comparable = (h: Record<string, string>) => {
        const { date: _date, 'x-request-id': id, ...rest } = h;
        expect(id).toMatch(/^[0-9a-f-]{36}$/);
        return rest;
      };
      expect(comparable(fast.headers)).toEqual(comparable(full.headers));
      expect(fast.text).toEqual(full.text);
    }
    const metrics = await t.http.get('/metrics').expect(200);
    expect(metrics.text).toMatch(/method="HEAD",route="\/health\/live",status="2xx"/);
  });

  it('is ready when the database answers', async () => {
    const res = await t.http.get('/health/ready').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.info.database.status).toBe('up');
  });

  it("always answers with the server's own request id, never the caller's", async () => {
    const given = await t.http.get('/health/live').set('X-Request-Id', 'abc-123').expect(200);
    expect(given.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await t.http.get('/health/live').set('X-Request-Id', 'x'.repeat(500)).expect(200);
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes with problem+json', async () => {
    const res = await t.http.get('/no/such/route').expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 404, code: 'route-not-found' });
    expect(res.body.requestId).toBeDefined();
  });

  it('answers malformed JSON with 400 problem+json', async () => {
    const res = await t.http
      .post('/health/live')
      .set('content-type', 'application/json')
      .send('{"broken":')
      .expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('refuses a non-JSON body with 415 and changes nothing', async () => {
    const admin = bearer(bootstrapToken());
    const site = await t.http
      .post('/sites')
      .set(admin)
      .send({ name: uniqueName('media'), region: 'r1' })
      .expect(201);
    for (const [type, body] of [
      ['text/plain', '{"region":"r2"}'],
      ['application/x-www-form-urlencoded', 'region=r2'],
      ['application/xml', '<site><region>r2</region></site>'],
    ]) {
      const res = await t.http
        .patch(`/sites/${site.body.id}`)
        .set(admin)
        .set('content-type', type)
        .send(body)
        .expect(415);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 415, code: 'unsupported-media-type' });
    }
    const after = await t.http.get(`/sites/${site.body.id}`).set(admin).expect(200);
    expect(after.body.region).toBe('r1');
    // A bodiless POST needs no content type.
    await t.http.post('/health/live').set('content-length', '0').expect(404);
  });

  it('exposes Prometheus metrics with an HTTP latency histogram by route', async () => {
    await t.http.get('/health/live');
    const res = await t.http.get('/metrics').expect(200);
    expect(res.text).toContain('crossdock_http_request_duration_seconds_bucket');
    expect(res.text).toMatch(/route="\/health\/live"/);
    expect(res.text).toContain('crossdock_process_cpu_seconds_total');
  });
});
