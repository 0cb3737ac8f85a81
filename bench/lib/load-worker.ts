/**
 * Runs autocannon in its own process over a list of request paths (one at random per request)
 * and prints one JSON line: latency percentiles computed from every response (autocannon's own
 * summary has no p95), request counts, errors, status codes.
 *
 *   tsx bench/lib/load-worker.ts <config.json>     (token in BENCH_TOKEN, never on argv)
 *
 * config.json: { "url": "http://127.0.0.1:1234", "connections": 4, "duration": 10, "paths": [...] }
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

interface Config {
  url: string;
  connections: number;
  duration: number;
  paths: string[];
  /** Requests per second over all connections (open-loop); absent = as fast as they answer. */
  rate?: number;
}

interface Request {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  setupRequest?: (req: Request) => Request;
}

interface Result {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { average: number; total: number };
  statusCodeStats: Record<string, { count: number }>;
}

interface Instance {
  on(
    event: 'response',
    fn: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void,
  ): void;
}

type Autocannon = (
  opts: {
    url: string;
    connections: number;
    duration: number;
    overallRate?: number;
    headers: Record<string, string>;
    requests: Request[];
  },
  cb: (err: Error | null, result: Result) => void,
) => Instance;

export interface LoadResult {
  connections: number;
  durationS: number;
  requests: number;
  reqPerSec: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/**
 * Runs this worker in a child process (tsx) against `url` and resolves with its result. The
 * config goes through a file in `workDir`, the token through the environment (never argv).
 */
export function runLoad(
  url: string,
  token: string,
  paths: string[],
  connections: number,
  duration: number,
  workDir: string,
  /** Requests per second over all connections; absent = closed loop, as fast as answered. */
  rate?: number,
  /** CPUs the worker runs on (`taskset -c`), whatever CPUs the caller is pinned to. */
  cpus?: string,
): Promise<LoadResult> {
  const root = join(__dirname, '..', '..');
  const cfgFile = join(workDir, `load-${Date.now()}-${process.pid}.json`);
  writeFileSync(cfgFile, JSON.stringify({ url, connections, duration, paths, rate }));
  const tsx = join(root, 'node_modules', '.bin', 'tsx');
  return new Promise((resolve, reject) => {
    const argv = [tsx, join(root, 'bench', 'lib', 'load-worker.ts'), cfgFile];
    const [cmd, ...args] = cpus ? ['taskset', '-c', cpus, ...argv] : argv;
    const child = spawn(cmd, args, {
      cwd: root,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BENCH_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      rmSync(cfgFile, { force: true });
      if (code !== 0)
        return reject(new Error(`bench: load worker exited ${code}: ${err.slice(-500)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as LoadResult);
      } catch {
        reject(new Error(`bench: load worker printed no result: ${(out + err).slice(-500)}`));
      }
    });
  });
}

function main(): void {
  const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Config;
  const token = process.env.BENCH_TOKEN ?? '';
  const autocannon = createRequire(__filename)('autocannon') as Autocannon;
  const latencies: number[] = [];
  const instance = autocannon(
    {
      url: cfg.url,
      connections: cfg.connections,
      duration: cfg.duration,
      ...(cfg.rate ? { overallRate: cfg.rate } : {}),
      headers: { authorization: `Bearer ${token}` },
      requests: [
        {
          method: 'GET',
          setupRequest: (req) => ({
            ...req,
            path: cfg.paths[Math.floor(Math.random() * cfg.paths.length)],
          }),
        },
      ],
    },
    (err, r) => {
      if (err) {
        console.error(`load-worker: ${err.message}`);
        process.exit(1);
      }
      latencies.sort((a, b) => a - b);
      const out: LoadResult = {
        connections: cfg.connections,
        durationS: r.duration,
        requests: r.requests.total,
        reqPerSec: r.requests.total / r.duration,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
        statusCodes: Object.fromEntries(
          Object.entries(r.statusCodeStats).map(([code, s]) => [code, s.count]),
        ),
        latencyMs: {
          p50: percentile(latencies, 50),
          p95: percentile(latencies, 95),
          p99: percentile(latencies, 99),
          max: latencies[latencies.length - 1] ?? NaN,
          mean: latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1),
        },
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    },
  );
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    latencies.push(responseTime);
  });
}

if (require.main === module) main();
