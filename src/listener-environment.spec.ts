import { Server } from 'node:http';
import {
  limitListener,
  strictTransport,
  trustProxySetting,
  type CheckingInterval,
} from './bootstrap';
import { EnvironmentError, validateEnvironment } from './config/environment';

const required = {
  DATABASE_URL: 'postgres://crossdock@127.0.0.1:5432/crossdock',
  CROSSDOCK_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
  CROSSDOCK_AUDIT_HMAC_KEY: 'k'.repeat(32),
};

describe('listener limits from the environment', () => {
  it('defaults to 10 s for headers, 30 s for a whole request, 1000 connections', () => {
    const env = validateEnvironment(required);
    expect(env).toMatchObject({
      HTTP_HEADERS_TIMEOUT_MS: 10000,
      HTTP_REQUEST_TIMEOUT_MS: 30000,
      HTTP_MAX_CONNECTIONS: 1000,
    });
  });

  it.each([
    ['HTTP_HEADERS_TIMEOUT_MS', '999'],
    ['HTTP_REQUEST_TIMEOUT_MS', 'soon'],
    ['HTTP_REQUEST_TIMEOUT_MS', '600001'],
    ['HTTP_MAX_CONNECTIONS', '0'],
    ['HTTP_MAX_CONNECTIONS', '1.5'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => validateEnvironment({ ...required, [name]: value })).toThrow(EnvironmentError);
    try {
      validateEnvironment({ ...required, [name]: value });
    } catch (err) {
      expect((err as EnvironmentError).variables).toEqual([name]);
      expect((err as Error).message).not.toContain(value);
    }
  });

  it('sets the timeouts, a fine checking interval and the cap on the server', () => {
    const server = new Server();
    limitListener(server, {
      HTTP_HEADERS_TIMEOUT_MS: 40000,
      HTTP_REQUEST_TIMEOUT_MS: 20000,
      HTTP_MAX_CONNECTIONS: 7,
    });
    expect(server.requestTimeout).toBe(20000);
    expect(server.headersTimeout).toBe(20000);
    expect((server as Server & CheckingInterval).connectionsCheckingInterval).toBeLessThanOrEqual(
      250,
    );
    expect(server.maxConnections).toBe(7);
  });
});

describe('HTTPS listener and proxy settings', () => {
  it('needs the certificate and key together', () => {
    expect(() => validateEnvironment({ ...required, HTTPS_CERT_FILE: '/etc/tls/c.pem' })).toThrow(
      /HTTPS_CERT_FILE and HTTPS_KEY_FILE go together/,
    );
    expect(
      validateEnvironment({ ...required, HTTPS_CERT_FILE: '/c.pem', HTTPS_KEY_FILE: '/k.pem' }),
    ).toMatchObject({ HTTPS_CERT_FILE: '/c.pem', HTTPS_KEY_FILE: '/k.pem' });
  });

  it('reads TRUST_PROXY as express does and refuses anything else', () => {
    expect(trustProxySetting(validateEnvironment(required).TRUST_PROXY)).toBe(false);
    expect(trustProxySetting('1')).toBe(1);
    expect(trustProxySetting('loopback, 10.0.0.0/8')).toBe('loopback, 10.0.0.0/8');
    expect(() => validateEnvironment({ ...required, TRUST_PROXY: 'everyone' })).toThrow(
      EnvironmentError,
    );
  });

  it('sends Strict-Transport-Security only on requests that arrived over HTTPS', () => {
    const headers = (secure: boolean) => {
      const set: Record<string, string> = {};
      strictTransport(15552000)(
        { secure } as never,
        { setHeader: (k: string, v: string) => (set[k] = v) } as never,
        () => undefined,
      );
      return set;
    };
    expect(headers(true)).toEqual({
      'Strict-Transport-Security': 'max-age=15552000; includeSubDomains',
    });
    expect(headers(false)).toEqual({});
  });
});
