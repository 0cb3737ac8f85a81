import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Actor } from '../actor/actor';
import { accessLog } from './access-log';

type Call = { level: string; obj: Record<string, unknown>; msg: string };

function fakeLogger(calls: Call[]): Logger {
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) =>
    calls.push({ level, obj, msg });
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as never;
}

function fakeExchange(url: string, headers: Record<string, string> = {}) {
  const req = Object.assign(new EventEmitter(), {
    method: 'GET',
    url,
    originalUrl: url,
    baseUrl: '',
    headers,
  }) as unknown as Request & { id?: unknown; actor?: Actor; route?: unknown };
  const res = Object.assign(new EventEmitter(), {
    statusCode: 200,
    headersSent: false,
    writableFinished: false,
    setHeader: jest.fn(),
  }) as unknown as Response & { writableFinished: boolean; headersSent: boolean };
  return { req, res };
}

function run(url: string, headers: Record<string, string> = {}) {
  const calls: Call[] = [];
  const { req, res } = fakeExchange(url, headers);
  const next: NextFunction = jest.fn();
  accessLog(() => fakeLogger(calls))(req, res, next);
  expect(next).toHaveBeenCalled();
  return { calls, req, res };
}

const finish = (
  res: Response & { writableFinished: boolean; headersSent: boolean },
  status: number,
) => {
  res.statusCode = status;
  res.headersSent = true;
  res.writableFinished = true;
  res.emit('finish');
  res.emit('close');
};

describe('accessLog', () => {
  it('writes one line with route template, status, duration, request id and token name', () => {
    const { calls, req, res } = run('/sites/abc?limit=5', { 'x-request-id': 'rid-1' });
    req.route = { path: '/sites/:id' };
    req.actor = { kind: 'token', tokenId: 't1', name: 'ci-pipeline', role: 'viewer' };
    finish(res, 200);
    expect(calls).toHaveLength(1);
    expect(calls[0].level).toBe('info');
    expect(calls[0].msg).toBe('request completed');
    expect(calls[0].obj).toMatchObject({
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      clientRequestId: 'rid-1',
      method: 'GET',
      route: '/sites/:id',
      path: '/sites/abc',
      status: 200,
      tokenName: 'ci-pipeline',
    });
    expect(typeof calls[0].obj.durationMs).toBe('number');
    // The server's own id goes back; the caller's is kept beside it, never in its place.
    expect(res.setHeader).toHaveBeenCalledWith('X-Request-Id', calls[0].obj.requestId);
  });

  it('logs 4xx at warn and 5xx at error, unmatched routes without a route', () => {
    const a = run('/nope');
    a.req.route = { path: '/{*path}' };
    finish(a.res, 404);
    expect(a.calls[0]).toMatchObject({ level: 'warn', obj: { status: 404, route: null } });
    const b = run('/sites');
    finish(b.res, 503);
    expect(b.calls[0]).toMatchObject({ level: 'error', obj: { status: 503, tokenName: null } });
  });

  it('marks a request the client abandoned before an answer as 499', () => {
    const { calls, res } = run('/sites');
    res.emit('close');
    expect(calls).toEqual([
      expect.objectContaining({
        msg: 'request aborted',
        obj: expect.objectContaining({ status: 499, aborted: true }),
      }),
    ]);
  });

  it('keeps probes and scrapes out of the info log', () => {
    const { calls, res } = run('/health/live');
    finish(res, 200);
    expect(calls[0].level).toBe('debug');
  });

  it('generates a request id when the caller sends none or a malformed one', () => {
    const { calls, res } = run('/sites', { 'x-request-id': 'bad id with spaces' });
    finish(res, 200);
    expect(calls[0].obj.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
