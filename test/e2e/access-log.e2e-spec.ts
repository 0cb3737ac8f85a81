import { Controller, Get } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { Public } from '../../src/common/http/public.decorator';
import { bearer, bootstrapToken, tokensByRole, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';

/** A route that fails unexpectedly, to see the 500's access line. */
@Controller('test-only')
class FailingController {
  @Get('boom')
  @Public()
  boom(): never {
    throw new Error('boom (a bug, as far as the service knows)');
  }
}

interface Line {
  msg?: string;
  level?: string;
  requestId?: string;
  method?: string;
  route?: string | null;
  path?: string;
  status?: number;
  durationMs?: number;
  tokenName?: string | null;
}

/** One access line per request: method, route, status, duration, request id, token name. */
describe('access log and request ids', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({}, { controllers: [FailingController] });
  });
  afterAll(() => t.close());

  const accessLines = (): Line[] =>
    readFileSync(t.logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line)
      .filter((l) => l.msg === 'request completed' || l.msg === 'request aborted');

  const linesFor = async (requestId: string): Promise<Line[]> => {
    let found: Line[] = [];
    await eventually(() => {
      found = accessLines().filter((l) => l.requestId === requestId);
      expect(found.length).toBeGreaterThan(0);
    });
    return found;
  };

  it('logs a 2xx with its route template, status, duration, request id and token name', async () => {
    const tokens = await tokensByRole(t.http, 'alog');
    const site = await t.http
      .post('/sites')
      .set(bearer(bootstrapToken()))
      .send({ name: uniqueName('alog'), region: 'r' })
      .expect(201);
    const res = await t.http
      .get(`/sites/${site.body.id}`)
      .set(bearer(tokens.viewer))
      .set('X-Request-Id', 'alog-2xx-1')
      .expect(200);
    // The request id is the server's own; the caller's is kept beside it.
    const id = res.headers['x-request-id'] as string;
    expect(id).not.toBe('alog-2xx-1');
    const lines = await linesFor(id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      clientRequestId: 'alog-2xx-1',
      method: 'GET',
      route: '/sites/:id',
      path: `/sites/${site.body.id}`,
      status: 200,
      tokenName: expect.stringMatching(/^alog-viewer-/),
    });
    expect(typeof lines[0].durationMs).toBe('number');
    // The token itself never reaches the log.
    expect(readFileSync(t.logFile, 'utf8')).not.toContain(tokens.viewer);
    expect(readFileSync(t.logFile, 'utf8')).not.toContain(bootstrapToken());
  });

  it('logs a 4xx from validation with its status and the caller token name', async () => {
    const res = await t.http
      .post('/sites')
      .set(bearer(bootstrapToken()))
      .send({ name: 'Not A Label', region: 'r' })
      .expect(400);
    const id = res.headers['x-request-id'] as string;
    expect(res.body.requestId).toBe(id);
    const [line] = await linesFor(id);
    expect(line).toMatchObject({
      level: 'warn',
      method: 'POST',
      route: '/sites',
      status: 400,
      tokenName: 'bootstrap-admin',
    });
  });

  it('logs an unauthenticated 401 without a token name', async () => {
    const res = await t.http.get('/sites').expect(401);
    const [line] = await linesFor(res.headers['x-request-id'] as string);
    expect(line).toMatchObject({ status: 401, route: '/sites', tokenName: null });
  });

  it('gives malformed JSON a request id (body and header) and an access line', async () => {
    const res = await t.http
      .post('/sites')
      .set(bearer(bootstrapToken()))
      .set('Content-Type', 'application/json')
      .send('{"name": "dc1", ')
      .expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.detail).toMatch(/JSON/);
    expect(res.body.requestId).toEqual(expect.any(String));
    expect(res.headers['x-request-id']).toBe(res.body.requestId);
    const lines = await linesFor(res.body.requestId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: 'POST', path: '/sites', status: 400 });
  });

  it('keeps a caller-supplied request id beside its own on a malformed body', async () => {
    const res = await t.http
      .post('/sites')
      .set(bearer(bootstrapToken()))
      .set('Content-Type', 'application/json')
      .set('X-Request-Id', 'alog-bad-json')
      .send('{')
      .expect(400);
    expect(res.body.clientRequestId).toBe('alog-bad-json');
    expect(res.body.requestId).toBe(res.headers['x-request-id']);
    expect(res.body.requestId).not.toBe('alog-bad-json');
  });

  it('gives an unknown route a request id and an access line', async () => {
    const res = await t.http.get('/no-such-route').set(bearer(bootstrapToken())).expect(404);
    expect(res.body.requestId).toBe(res.headers['x-request-id']);
    const [line] = await linesFor(res.body.requestId);
    expect(line).toMatchObject({ status: 404, route: null, path: '/no-such-route' });
  });

  it('logs a 5xx at error level with its status and request id', async () => {
    const res = await t.http.get('/test-only/boom').expect(500);
    expect(res.body.requestId).toBe(res.headers['x-request-id']);
    expect(res.body.detail).not.toMatch(/boom/);
    const [line] = await linesFor(res.body.requestId);
    expect(line).toMatchObject({
      level: 'error',
      method: 'GET',
      route: '/test-only/boom',
      status: 500,
    });
  });

  it('writes exactly one access line per request', async () => {
    const ids: string[] = [];
    for (const client of ['alog-one-1', 'alog-one-2', 'alog-one-3']) {
      const res = await t.http
        .get('/sites')
        .set(bearer(bootstrapToken()))
        .set('X-Request-Id', client)
        .expect(200);
      ids.push(res.headers['x-request-id'] as string);
    }
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(await linesFor(id)).toHaveLength(1);
    expect(accessLines().every((l) => typeof l.status === 'number')).toBe(true);
  });
});
