import { createSocket } from 'node:dgram';
import { open, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { checkpointSignature } from './audit-chain';

/** One signed checkpoint as kept outside the database (one JSON line per checkpoint). */
export interface SinkEntry {
  kind: 'head' | 'prune';
  seq: string;
  hash: string;
  signature: string;
  at: string;
}

export interface SinkSettings {
  /** Append-only file (opened with O_APPEND for every write, fsynced). */
  file?: string;
  /** `udp://host:port`: RFC 5424 syslog over UDP (write-only: verify cannot read it back). */
  syslog?: string;
}

/** What verify learnt from the file sink. */
export interface SinkReading {
  status: 'not-configured' | 'empty' | 'ok' | 'unreadable';
  /** The newest correctly signed entry (highest seq), the anchor verify checks. */
  latest?: SinkEntry;
  /** Lines in the read tail whose signature does not hold (edited or forged). */
  badLines: number;
}

/** Only the end of the file is read: the newest entries are what a truncation must contradict. */
const tailBytes = 256 * 1024;
const syslogPattern = /^udp:\/\/([A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:]{2,45}\]):(\d{1,5})$/;

export function isValidSyslogTarget(value: string): boolean {
  const m = syslogPattern.exec(value);
  return !!m && Number(m[2]) > 0 && Number(m[2]) < 65536;
}

/**
 * Signed audit checkpoints written outside the database, so that a database owner who deletes
 * the newest events and checkpoints (triggers disabled) is contradicted by evidence they cannot
 * reach. The file should live on storage the database owner cannot write (another host, or a
 * file marked append-only with `chattr +a`); syslog forwards to a remote collector.
 */
export class CheckpointSink {
  constructor(
    private readonly settings: SinkSettings,
    private readonly key: string,
  ) {}

  get configured(): boolean {
    return !!(this.settings.file || this.settings.syslog);
  }

  async append(entry: SinkEntry): Promise<void> {
    const line = JSON.stringify(entry);
    const writes: Promise<void>[] = [];
    if (this.settings.file) writes.push(appendLine(this.settings.file, `${line}\n`));
    if (this.settings.syslog) writes.push(sendSyslog(this.settings.syslog, line));
    await Promise.all(writes);
  }

  async read(): Promise<SinkReading> {
    const file = this.settings.file;
    if (!file) return { status: 'not-configured', badLines: 0 };
    let text: string;
    try {
      const size = (await stat(file)).size;
      const fh = await open(file, 'r');
      try {
        const start = Math.max(0, size - tailBytes);
        const buf = Buffer.alloc(size - start);
        await fh.read(buf, 0, buf.length, start);
        text = buf.toString('utf8');
        // A partial first line (cut by the tail window) is dropped.
        if (start > 0) text = text.slice(text.indexOf('\n') + 1);
      } finally {
        await fh.close();
      }
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      return { status: missing ? 'empty' : 'unreadable', badLines: 0 };
    }
    let latest: SinkEntry | undefined;
    let badLines = 0;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const entry = parseEntry(line);
      if (
        !entry ||
        checkpointSignature(this.key, entry.kind, entry.seq, entry.hash) !== entry.signature
      ) {
        badLines += 1;
        continue;
      }
      if (!latest || BigInt(entry.seq) > BigInt(latest.seq)) latest = entry;
    }
    return { status: latest ? 'ok' : 'empty', latest, badLines };
  }
}

function parseEntry(line: string): SinkEntry | undefined {
  try {
    const e = JSON.parse(line) as Partial<SinkEntry>;
    if (
      (e.kind === 'head' || e.kind === 'prune') &&
      typeof e.seq === 'string' &&
      /^\d{1,19}$/.test(e.seq) &&
      typeof e.hash === 'string' &&
      typeof e.signature === 'string' &&
      typeof e.at === 'string'
    ) {
      return { kind: e.kind, seq: e.seq, hash: e.hash, signature: e.signature, at: e.at };
    }
  } catch {
    // counted as a bad line
  }
  return undefined;
}

async function appendLine(file: string, line: string): Promise<void> {
  const fh = await open(file, 'a', 0o600);
  try {
    await fh.write(line);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

function sendSyslog(target: string, message: string): Promise<void> {
  const m = syslogPattern.exec(target);
  if (!m) return Promise.reject(new Error('AUDIT_CHECKPOINT_SYSLOG is not udp://host:port'));
  const host = m[1].replace(/^\[|\]$/g, '');
  // facility local0 (16), severity notice (5): <133>; RFC 5424 with a structured-data dash.
  const packet = Buffer.from(
    `<133>1 ${new Date().toISOString()} ${hostname()} crossdock ${process.pid} audit-checkpoint - ${message}`,
  );
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return new Promise<void>((resolve, reject) => {
    socket.send(packet, Number(m[2]), host, (err) => {
      socket.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

export function sinkFromEnv(env: {
  AUDIT_CHECKPOINT_FILE?: string;
  AUDIT_CHECKPOINT_SYSLOG?: string;
}): SinkSettings {
  return { file: env.AUDIT_CHECKPOINT_FILE, syslog: env.AUDIT_CHECKPOINT_SYSLOG };
}
