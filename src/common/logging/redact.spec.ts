import { createHash, randomBytes } from 'node:crypto';
import { mapUriPasswords, redactDeep, redactString, redactValue } from './redact';

const pw = 'S3cr3t-pw-Zq9';
const basic = Buffer.from(`link-user:${pw}`).toString('base64');
/** What RabbitMQ shows as `password_hash` (rabbit_password_hashing_sha256). */
function rabbitHash(password: string): string {
  const salt = randomBytes(4);
  const digest = createHash('sha256')
    .update(Buffer.concat([salt, Buffer.from(password)]))
    .digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

describe('redactString: credentials by shape', () => {
  const hash = rabbitHash(pw);
  const cases: [string, string, string][] = [
    ['plain URI', `amqp://link:${pw}@h:5672/v`, 'amqp://link:(redacted)@h:5672/v'],
    ['JSON-escaped URI', `"amqp:\\/\\/link:${pw}@h\\/v"`, '"amqp:\\/\\/link:(redacted)@h\\/v"'],
    [
      'doubly escaped URI',
      `amqps:\\\\\\/\\\\\\/link:${pw}@h`,
      'amqps:\\\\\\/\\\\\\/link:(redacted)@h',
    ],
    [
      'percent-encoded URI',
      `uri=amqp%3A%2F%2Flink%3A${pw}%40h%3A5672%2Fv`,
      'uri=amqp%3A%2F%2Flink%3A(redacted)%40h%3A5672%2Fv',
    ],
    ['password with an encoded slash', `amqp://u:a%2Fb${pw}@h/v`, 'amqp://u:(redacted)@h/v'],
    ['Basic header', `authorization: Basic ${basic}`, 'authorization: Basic (redacted)'],
    [
      'Basic header, JSON',
      `{"authorization":"Basic ${basic}"}`,
      '{"authorization":"Basic (redacted)"}',
    ],
    [
      'Bearer token',
      'Authorization: Bearer cdk_0a1b2c3d_abcdefghijklmnop',
      'Authorization: Bearer (redacted)',
    ],
    [
      'password_hash in echoed JSON',
      `{"name":"link","password_hash":"${hash}","tags":""}`,
      '{"name":"link","password_hash":"(redacted)","tags":""}',
    ],
    [
      'password_hash, JSON-escaped',
      `{\\"password_hash\\":\\"${hash}\\"}`,
      '{\\"password_hash\\":\\"(redacted)\\"}',
    ],
    ['a RabbitMQ password hash alone', `hash ${hash} seen`, 'hash (redacted) seen'],
    [
      'password in a query string',
      `/x?user=u&password=${pw}&y=1`,
      '/x?user=u&password=(redacted)&y=1',
    ],
  ];
  it.each(cases)('%s', (_label, input, expected) => {
    expect(redactString(input)).toBe(expected);
    expect(redactString(input)).not.toContain(pw);
    // Idempotent: redacting twice changes nothing.
    expect(redactString(redactString(input))).toBe(expected);
  });

  it('leaves ordinary text alone', () => {
    for (const s of [
      'amqp://h1:5672/v?heartbeat=10',
      'https://example.test/path',
      'Basic auth is not used here',
      'password must be longer than or equal to 8 characters',
      'amqp://u:(changed)@h/v',
      'a'.repeat(48),
      'ab'.repeat(24),
      createHash('sha256').update('x').digest('hex'),
      'the bearer of bad news',
    ]) {
      expect(redactString(s)).toBe(s);
    }
  });

  it('stays linear on hostile input (1 MB each, cut at 256 KiB)', () => {
    const hostile = [
      'a://a:'.repeat(200_000),
      '%3a%2f%2f'.repeat(120_000),
      ':\\\\\\/\\\\\\/x:'.repeat(100_000),
      'Basic '.repeat(180_000),
      'password='.repeat(120_000),
      'A1b'.repeat(350_000),
      'Basic AAAAAAAA '.repeat(70_000),
      'Bearer '.repeat(150_000),
      `a://x:${'\\'.repeat(1_000_000)}`,
      ':\\\\\\/\\\\\\/x:'.repeat(60_000),
      `amqp://u:${'x'.repeat(1_000_000)}`,
    ];
    for (const s of hostile) {
      const t0 = process.hrtime.bigint();
      redactString(s);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      expect({ s: s.slice(0, 12), fast: ms < 1000 }).toEqual({ s: s.slice(0, 12), fast: true });
    }
  });

  it('hides the rest of an over-long user information section', () => {
    const out = redactString(`amqp://u:${'p'.repeat(5000)}@h`);
    expect(redactString('x'.repeat(300_000)).length).toBe(256 * 1024 + 3);
    expect(out.startsWith('amqp://u:(redacted)')).toBe(true);
    expect(out).not.toContain('p'.repeat(100));
  });
});

describe('mapUriPasswords', () => {
  it('hands each password to the callback in every encoding', () => {
    const seen: string[] = [];
    mapUriPasswords(`amqp://a:one@h amqp:\\/\\/b:two@h amqp%3A%2F%2Fc%3Athree%40h`, (p) => {
      seen.push(p);
      return p;
    });
    expect(seen).toEqual(['one', 'two', 'three']);
  });
});

describe('redactDeep and redactValue: secret-named keys', () => {
  it('hides password hashes and secrets under their keys, keeps flags and placeholders', () => {
    const input = {
      password_hash: rabbitHash(pw),
      passwordHash: 'x',
      password: pw,
      passwordSet: true,
      uri: `amqp://u:${pw}@h`,
      nested: { admin_password: pw, note: `Basic ${basic}`, kept: '(changed)' },
    };
    for (const out of [redactDeep(input), redactValue(input)]) {
      const text = JSON.stringify(out);
      expect(text).not.toContain(pw);
      expect(text).not.toContain(input.password_hash);
      expect(text).not.toContain(basic);
      expect(text).toContain('(changed)');
    }
    expect(redactDeep(input)).toMatchObject({ passwordSet: true, uri: 'amqp://u:(redacted)@h' });
  });
});
