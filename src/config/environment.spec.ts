import { validateEnvironment } from './environment';

const base = {
  DATABASE_URL: 'postgres://u@127.0.0.1/db',
  CROSSDOCK_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
  CROSSDOCK_AUDIT_HMAC_KEY: 'k'.repeat(32),
};

describe('bootstrap token settings', () => {
  it('defaults to refusing the bootstrap token once a real admin token exists', () => {
    const env = validateEnvironment(base);
    expect(env.CROSSDOCK_BOOTSTRAP_AFTER_ADMIN).toBe('refuse');
    expect(env.CROSSDOCK_BOOTSTRAP_EXPIRES_AT).toBeUndefined();
  });

  it('accepts an ISO 8601 expiry with a zone and refuses anything else', () => {
    expect(
      validateEnvironment({ ...base, CROSSDOCK_BOOTSTRAP_EXPIRES_AT: '2030-01-02T03:04:05Z' })
        .CROSSDOCK_BOOTSTRAP_EXPIRES_AT,
    ).toBe('2030-01-02T03:04:05Z');
    for (const bad of ['tomorrow', '2030-01-02', '2030-13-45T99:99:00Z', '2030-01-02T03:04:05']) {
      expect(() => validateEnvironment({ ...base, CROSSDOCK_BOOTSTRAP_EXPIRES_AT: bad })).toThrow(
        /CROSSDOCK_BOOTSTRAP_EXPIRES_AT/,
      );
    }
    expect(() =>
      validateEnvironment({ ...base, CROSSDOCK_BOOTSTRAP_AFTER_ADMIN: 'maybe' }),
    ).toThrow(/CROSSDOCK_BOOTSTRAP_AFTER_ADMIN/);
  });
});
