import { createSocket } from 'node:dgram';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointSignature } from './audit-chain';
import { CheckpointSink, isValidSyslogTarget } from './checkpoint-sink';

const key = 'k'.repeat(32);
const entry = (seq: string) => {
  const hash = seq.padStart(64, '0');
  return {
    kind: 'head' as const,
    seq,
    hash,
    signature: checkpointSignature(key, 'head', seq, hash),
    at: new Date().toISOString(),
  };
};

describe('CheckpointSink (file)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sink-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends signed lines and reads back the highest seq', async () => {
    const sink = new CheckpointSink({ file: join(dir, 'cp.ndjson') }, key);
    expect(await sink.read()).toEqual({ status: 'empty', badLines: 0 });
    for (const seq of ['5', '12', '9']) await sink.append(entry(seq));
    const r = await sink.read();
    expect(r).toMatchObject({ status: 'ok', badLines: 0, latest: { seq: '12' } });
  });

  it('counts lines whose signature does not hold and never trusts them', async () => {
    const file = join(dir, 'cp.ndjson');
    const sink = new CheckpointSink({ file }, key);
    await sink.append(entry('3'));
    appendFileSync(
      file,
      `${JSON.stringify({ ...entry('99'), signature: '0'.repeat(64) })}\nnot json\n`,
    );
    expect(await sink.read()).toMatchObject({ status: 'ok', badLines: 2, latest: { seq: '3' } });
  });

  it('reads only the tail of a large file', async () => {
    const file = join(dir, 'cp.ndjson');
    const sink = new CheckpointSink({ file }, key);
    const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify(entry(String(i + 1))));
    appendFileSync(file, `${lines.join('\n')}\n`);
    const r = await sink.read();
    expect(r).toMatchObject({ status: 'ok', badLines: 0, latest: { seq: '3000' } });
  });

  it('is not configured without a file or syslog target', async () => {
    const sink = new CheckpointSink({}, key);
    expect(sink.configured).toBe(false);
    expect(await sink.read()).toEqual({ status: 'not-configured', badLines: 0 });
  });

  it('accepts only udp://host:port syslog targets', () => {
    expect(isValidSyslogTarget('udp://127.0.0.1:514')).toBe(true);
    expect(isValidSyslogTarget('udp://[::1]:514')).toBe(true);
    expect(isValidSyslogTarget('tcp://h:514')).toBe(false);
    expect(isValidSyslogTarget('udp://h:0')).toBe(false);
  });

  it('sends each checkpoint to syslog over UDP', async () => {
    const server = createSocket('udp4');
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    const got = new Promise<string>((resolve) =>
      server.once('message', (m) => resolve(m.toString())),
    );
    const sink = new CheckpointSink({ syslog: `udp://127.0.0.1:${server.address().port}` }, key);
    await sink.append(entry('7'));
    const message = await got;
    server.close();
    expect(message).toMatch(
      /^<133>1 \S+ \S+ crossdock \d+ audit-checkpoint - \{"kind":"head","seq":"7"/,
    );
  });
});
