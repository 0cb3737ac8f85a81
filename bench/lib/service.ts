/**
 * Shared by benchmarks: refuse a stale dist/, start the built service on a free port with only
 * the environment it is given (test/helpers/service-process), sample a process's memory from /proc.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnService, type ServiceProcess } from '../../test/helpers/service-process';

export const root = join(__dirname, '..', '..');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** The benchmark measures dist/: refuse to measure code older than the sources. */
export function checkBuild(allowStale: boolean): void {
  const main = join(root, 'dist', 'src', 'main.js');
  if (!existsSync(main)) throw new Error('bench: dist/src/main.js missing; run `npx nest build`');
  const newest = Math.max(newestMtime(join(root, 'src')), newestMtime(join(root, 'migrations')));
  if (newest > statSync(main).mtimeMs) {
    const msg = 'bench: src/ or migrations/ changed after the last build; run `npx nest build`';
    if (!allowStale) throw new Error(`${msg} (or pass --allow-stale)`);
    console.warn(`${msg} (continuing: --allow-stale)`);
  }
}

export type Service = ServiceProcess;

export interface StartOptions {
  /** Node.js options before the script, e.g. `-r preload.cjs`. */
  nodeArgs?: string[];
  /** Opens an IPC channel to the service (for a preloaded helper such as a profiler). */
  ipc?: boolean;
  /**
   * Another checkout whose `dist/src/main.js` (and `node_modules`) to run instead of this one's,
   * e.g. a baseline built from an older commit for a before/after comparison in one session.
   */
  buildRoot?: string;
  /** CPUs to run on (`taskset -c`), whatever CPUs the bench itself is pinned to. */
  cpus?: string;
}

/** Starts `node dist/src/main.js` with `env` (and PATH) only; resolves once /health/ready is 200. */
export function startService(
  env: Record<string, string>,
  logDir: string,
  options: StartOptions = {},
): Promise<Service> {
  const { buildRoot, ...rest } = options;
  return spawnService({
    main: join(buildRoot ?? root, 'dist', 'src', 'main.js'),
    env,
    logDir,
    ...rest,
  });
}

/** VmRSS and VmHWM of a process in bytes (Linux /proc). */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
}

/**
 * Resets the process's peak RSS (VmHWM) so it covers only what follows (Linux >= 4.0,
 * /proc/<pid>/clear_refs, same user). Returns false where that is not possible.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface RssSample {
  t: number;
  rss: number;
  /** Whatever the caller reports as progress at that moment (rows received). */
  progress: number;
}

/** Reads VmRSS every `intervalMs` until stopped. */
export function sampleRss(pid: number, progress: () => number, intervalMs = 100) {
  const samples: RssSample[] = [];
  const start = Date.now();
  const take = () => {
    try {
      samples.push({ t: Date.now() - start, rss: memoryOf(pid).rss, progress: progress() });
    } catch {
      // process gone
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    samples,
    stop(): RssSample[] {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

export const mib = (bytes: number) => bytes / 1024 / 1024;

/** Fields of /proc/<pid>/stat after the command name (field 3 onwards), or null when gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far (Linux /proc). */
export function cpuSecondsOf(pid: number): number {
  const fields = statFields(pid);
  if (!fields) throw new Error(`bench: process ${pid} is gone`);
  // utime and stime, in clock ticks (USER_HZ, 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of the processes that are still there (gone ones count 0). */
export function cpuSecondsOfAll(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100;
}

/**
 * CPU seconds used by the local PostgreSQL server so far: every `postgres` process, plus what
 * the postmaster reaped from backends that exited (cutime, cstime), so a difference of two
 * readings covers backends that came and went in between (e.g. one connection per lock).
 */
export function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let comm: string;
    try {
      comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm !== 'postgres') continue;
    const f = statFields(Number(entry));
    if (!f) continue;
    ticks += Number(f[11]) + Number(f[12]);
    // The postmaster: its parent is not a postgres process.
    let parentComm = '';
    try {
      parentComm = readFileSync(`/proc/${f[1]}/comm`, 'utf8').trim();
    } catch {
      // parent gone
    }
    if (parentComm !== 'postgres') ticks += Number(f[13]) + Number(f[14]);
  }
  return ticks / 100;
}
