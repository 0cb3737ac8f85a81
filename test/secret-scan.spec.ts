import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanFiles, scanTexts, secretForms, unredactedShapes } from './helpers/secret-scan';

/** The suite-wide secret scan must see a secret in every encoding a broker or proxy echoes. */
describe('secret scan', () => {
  const secret = { label: 'link password', value: 'Lnk-pw-7f3a9c2e' };
  const encodings: [string, string][] = [
    ['plain', `uri amqp://link:${secret.value}@h/v`],
    ['JSON-escaped', JSON.stringify({ detail: `amqp:\\/\\/link:${secret.value}@h` })],
    ['percent-encoded', `amqp%3A%2F%2Flink%3A${encodeURIComponent(secret.value)}%40h`],
    [
      'Basic header',
      `Authorization: Basic ${Buffer.from(`link:${secret.value}`).toString('base64')}`,
    ],
    [
      'Basic header, other alignment',
      `Basic ${Buffer.from(`lnk:${secret.value}`).toString('base64')}`,
    ],
    [
      'Basic header, third alignment',
      `Basic ${Buffer.from(`lk:${secret.value}`).toString('base64')}`,
    ],
    ['base64 alone', Buffer.from(secret.value).toString('base64')],
  ];
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'scan-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(encodings)('finds the %s form in a text', (_label, text) => {
    expect(scanTexts([{ where: 'x', text }], [secret])).toEqual([
      { secret: 'link password', where: 'x' },
    ]);
  });

  it('finds every form in files of nested directories, naming file and secret only', () => {
    mkdirSync(join(dir, 'responses'), { recursive: true });
    encodings.forEach(([label, text], i) =>
      writeFileSync(join(dir, i % 2 ? 'responses' : '.', `f${i}.log`), `${label}\n${text}\n`),
    );
    writeFileSync(join(dir, 'clean.log'), 'amqp://link:(redacted)@h/v\n');
    const found = scanFiles([dir], [secret]);
    expect(found.map((f) => f.where).sort()).toEqual(
      encodings.map((_, i) => join(dir, i % 2 ? 'responses' : '.', `f${i}.log`)).sort(),
    );
    expect(JSON.stringify(found)).not.toContain(secret.value);
  });

  it('ignores secrets too short to be told from text', () => {
    expect(secretForms('abc')).toEqual([]);
  });

  it('flags credential shapes left in scrubbed records', () => {
    expect(
      unredactedShapes([
        { where: 'run 1', text: '{"error":"amqp://u:pw@h"}' },
        { where: 'run 2', text: '{"error":"amqp://u:(redacted)@h"}' },
      ]),
    ).toEqual([{ secret: 'credential shape', where: 'run 1' }]);
  });
});
