import type { IncomingMessage } from 'node:http';
import helmet from 'helmet';
import { servedByFastPath, staticHeadersOf } from './live-fast-path';

const req = (method: string, url: string, headers: Record<string, string> = {}) =>
  ({ method, url, headers }) as unknown as IncomingMessage;

describe('the /health/live fast path', () => {
  it('takes only a bare GET or HEAD /health/live; anything else goes to the full stack', () => {
    expect(servedByFastPath(req('GET', '/health/live'))).toBe(true);
    expect(servedByFastPath(req('HEAD', '/health/live'))).toBe(true);
    for (const r of [
      req('POST', '/health/live'),
      req('GET', '/health/live?x=1'),
      req('GET', '/health/live/'),
      req('GET', '/health/ready'),
      req('GET', '/health/live', { 'content-length': '0' }),
      req('GET', '/health/live', { 'transfer-encoding': 'chunked' }),
      req('GET', '/health/live', { authorization: 'Bearer x' }),
      req('GET', '/health/live', { 'x-change-reason': 'because' }),
    ])
      expect(servedByFastPath(r)).toBe(false);
  });

  it('reads the security headers once from the middleware that sets them', () => {
    const headers = new Map(staticHeadersOf(helmet({ frameguard: { action: 'deny' } })));
    expect(headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(headers.get('X-Frame-Options')).toBe('DENY');
    expect(headers.get('Content-Security-Policy')).toContain("default-src 'self'");
  });
});
