import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

function pgBin(tool: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const p = join(root, v, 'bin', tool);
    if (existsSync(p)) return p;
  }
  throw new Error(`private-postgres: ${tool} not found under ${root}; run scripts/ensure-postgres`);
}

/** Postgres refuses to run as root: run its tools as the postgres user when we are root. */
function asPostgres(tool: string, args: string[]): void {
  const isRoot = process.getuid?.() === 0;
  const cmd = isRoot ? 'runuser' : pgBin(tool);
  const argv = isRoot ? ['-u', 'postgres', '--', pgBin(tool), ...args] : args;
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) {
    throw new Error(`private-postgres: ${tool} failed (${r.status}): ${r.stderr || r.stdout}`);
  }
}

/**
 * A throw-away Postgres server (initdb + pg_ctl on a free port) for tests that stop and start
 * the database; the shared server on 5432 is never touched.
 */
export class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'crossdock-pg-'));
    chmodSync(dir, 0o777);
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
    const port = await freePort();
    const pg = new PrivatePostgres(dir, port);
    asPostgres('initdb', [
      '-D',
      join(dir, 'data'),
      '-A',
      'trust',
      '-U',
      'postgres',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    await pg.start();
    return pg;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  urlFor(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    asPostgres('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-l',
      join(this.dir, 'server.log'),
      '-w',
      '-t',
      '30',
      'start',
    ]);
  }

  /** Fast shutdown: connections are cut, as in a crash seen from the client side. */
  async stop(): Promise<void> {
    asPostgres('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', '-t', '30', 'stop']);
  }

  isRunning(): boolean {
    const r = spawnSync(pgBin('pg_isready'), ['-h', '127.0.0.1', '-p', String(this.port)], {
      encoding: 'utf8',
    });
    return r.status === 0;
  }

  async destroy(): Promise<void> {
    if (this.isRunning()) {
      try {
        await this.stop();
      } catch {
        // best effort: the directory is removed anyway
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
