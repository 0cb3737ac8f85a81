import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Claims a block of ports for a set of local sites: a base in [from, to) on a `span` grid whose
 * `probes` (offsets from the base) are free now, and which no other test process has claimed.
 * Checking that ports are free is not enough when two runs start side by side (the e2e and soak
 * tiers): both would see the same block free before either starts its brokers. A claim is a
 * directory made atomically under the system temp dir, naming the claiming process; a claim whose
 * process is gone is taken over. `release` removes it (global teardown, or the spec's own down).
 */
export async function claimPortBlock(options: {
  from: number;
  to: number;
  span: number;
  probes: readonly number[];
}): Promise<{ base: number; release: () => void }> {
  const root = join(tmpdir(), 'crossdock-port-blocks');
  mkdirSync(root, { recursive: true });
  const slots = Math.floor((options.to - options.from) / options.span);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  // The claim appears whole (a directory with its pid file, renamed into place) or not at all.
  const claim = (dir: string): boolean => {
    for (let tries = 0; tries < 2; tries++) {
      const staging = join(root, `.${process.pid}-${Math.random().toString(36).slice(2)}`);
      mkdirSync(staging);
      writeFileSync(join(staging, 'pid'), String(process.pid));
      try {
        renameSync(staging, dir);
        return true;
      } catch {
        rmSync(staging, { recursive: true, force: true });
      }
      let owner: number;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        return false;
      }
      if (owner && alive(owner)) return false;
      rmSync(dir, { recursive: true, force: true });
    }
    return false;
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = options.from + Math.floor(Math.random() * slots) * options.span;
    const dir = join(root, String(base));
    if (!claim(dir)) continue;
    const free = await Promise.all(options.probes.map((p) => isPortFree(base + p)));
    if (free.every(Boolean)) {
      return { base, release: () => releasePortBlock(base) };
    }
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error(`no free, unclaimed port block between ${options.from} and ${options.to}`);
}

/** Releases a block `claimPortBlock` claimed in this process (no-op for anyone else's claim). */
export function releasePortBlock(base: number): void {
  const dir = join(tmpdir(), 'crossdock-port-blocks', String(base));
  try {
    if (Number(readFileSync(join(dir, 'pid'), 'utf8')) !== process.pid) return;
  } catch {
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}
