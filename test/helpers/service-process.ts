/**
 * The service as a separate OS process (`node <build>/src/main.js`), for tests that kill or
 * freeze it and for benchmarks. Tests build what they run: `buildServiceForTests()` compiles
 * src/ and migrations/ with @swc/core (the options jest uses) into a fresh directory under
 * .local/, so a stale or missing dist/ never decides a result. Every child is tracked and
 * killed when the test process ends, even after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { freePort } from './ports';

export const repoRoot = join(__dirname, '..', '..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ServiceProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** Resolves when the process has exited (at once if it already has). */
  exited: Promise<void>;
  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT...) if the process still runs. */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM (after SIGCONT, in case it is frozen), SIGKILL after 10 s. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** The compiled entry point (dist/src/main.js, or a test build's). */
  main: string;
  env: Record<string, string>;
  logDir: string;
  /** Node.js options before the script, e.g. `-r preload.cjs`. */
  nodeArgs?: string[];
  /** Opens an IPC channel to the service (for a preloaded helper such as a profiler). */
  ipc?: boolean;
  /** How long to wait for /health/ready. Default 60 s. */
  readyTimeoutMs?: number;
  /** CPUs to run on (`taskset -c`), whatever CPUs the caller itself is pinned to. */
  cpus?: string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort (a crashed or interrupted test run): no child outlives the test process.
  process.once('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGCONT');
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Kills every service process started by this test process (frozen ones too) and removes the
 * test build they ran (afterAll of every spec that starts one).
 */
export async function killAllServiceProcesses(): Promise<void> {
  const all = [...live];
  for (const c of all) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  await Promise.all(
    all.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? undefined
        : new Promise<void>((r) => c.once('exit', () => r())),
    ),
  );
  if (built) rmSync(built.dir, { recursive: true, force: true });
  built = undefined;
}

/** Starts the service with `env` (and PATH) only; resolves once /health/ready answers 200. */
export async function spawnService(options: SpawnOptions): Promise<ServiceProcess> {
  installExitHook();
  const port = await freePort();
  mkdirSync(options.logDir, { recursive: true });
  const logFile = join(
    options.logDir,
    `service-${Date.now()}-${randomBytes(2).toString('hex')}.log`,
  );
  const log = createWriteStream(logFile);
  const argv = [process.execPath, ...(options.nodeArgs ?? []), options.main];
  // taskset sets the CPUs and execs node: same pid, and every thread inherits them.
  const [cmd, ...args] = options.cpus ? ['taskset', '-c', options.cpus, ...argv] : argv;
  const child = spawn(cmd, args, {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      RATE_LIMIT_TOKEN_PER_SECOND: '0',
      RATE_LIMIT_ADDRESS_PER_SECOND: '0',
      ...options.env,
    },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const signal = (sig: NodeJS.Signals) => {
    if (running()) child.kill(sig);
  };
  const stop = async () => {
    if (!running()) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60000);
  for (;;) {
    if (!running()) {
      throw new Error(
        `service exited with ${child.exitCode ?? child.signalCode}; see ${relative(repoRoot, logFile)}`,
      );
    }
    try {
      const res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`service not ready in time; see ${relative(repoRoot, logFile)}`);
    }
    await sleep(100);
  }
  if (child.pid === undefined) throw new Error('service has no pid');
  return { url, pid: child.pid, child, logFile, exited, signal, stop };
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [p] : [];
  });
}

let built: { dir: string; main: string } | undefined;

/**
 * Compiles src/ and migrations/ as they are now into .local/service-build-<id>/ (about a second
 * with swc; once per test process) and returns its entry point. Node resolves node_modules from
 * the repository above it.
 */
export function buildServiceForTests(): string {
  if (built) return built.main;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { transformFileSync } = require('@swc/core') as typeof import('@swc/core');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jestConfig = require(join(repoRoot, 'jest.config.js')) as {
    projects: { displayName: string; transform: Record<string, [string, object]> }[];
  };
  const project = jestConfig.projects.find((p) => p.displayName === 'e2e');
  const swc = project && Object.values(project.transform).find(([name]) => name === '@swc/jest');
  if (!swc) throw new Error('no @swc/jest transform in the e2e project of jest.config.js');
  const dir = join(
    repoRoot,
    '.local',
    `service-build-${process.pid}-${randomBytes(3).toString('hex')}`,
  );
  for (const file of [
    ...tsFiles(join(repoRoot, 'src')),
    ...tsFiles(join(repoRoot, 'migrations')),
  ]) {
    const { code } = transformFileSync(file, {
      ...swc[1],
      module: { type: 'commonjs' },
      sourceMaps: 'inline',
      swcrc: false,
      configFile: false,
    });
    const out = join(dir, relative(repoRoot, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, code);
  }
  built = { dir, main: join(dir, 'src', 'main.js') };
  return built.main;
}

/**
 * A test's service process: the fresh build, the run's database secrets from global setup, logs
 * in the run's log directory; background work is whatever `env` enables.
 */
export function startTestService(env: Record<string, string>): Promise<ServiceProcess> {
  const pick = (k: string) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set (global setup sets it)`);
    return v;
  };
  return spawnService({
    main: buildServiceForTests(),
    // Three of them starting at once on a loaded 2-core machine take a while.
    readyTimeoutMs: 120000,
    logDir: process.env.CROSSDOCK_TEST_LOG_DIR ?? join(repoRoot, '.local', 'test-logs'),
    env: {
      CROSSDOCK_ENCRYPTION_KEY: pick('CROSSDOCK_ENCRYPTION_KEY'),
      CROSSDOCK_AUDIT_HMAC_KEY: pick('CROSSDOCK_AUDIT_HMAC_KEY'),
      CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: pick('CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN'),
      CROSSDOCK_BOOTSTRAP_AFTER_ADMIN: pick('CROSSDOCK_BOOTSTRAP_AFTER_ADMIN'),
      LOG_LEVEL: 'info',
      ...env,
    },
  });
}
