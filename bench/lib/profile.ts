/**
 * V8 CPU profiles of the built service over a chosen window, driven over an IPC channel
 * (signals are taken: Nest's shutdown hooks listen for them), and a summary of where the time
 * goes. Start the service with `startService(env, dir, profilerOptions(dir))`.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { root } from './service';

const preload = `
const inspector = require('node:inspector');
const fs = require('node:fs');
const session = new inspector.Session();
session.connect();
let file = '';
process.on('message', (msg) => {
  if (typeof msg !== 'string') return;
  if (msg.startsWith('profile:start:')) {
    file = msg.slice('profile:start:'.length);
    session.post('Profiler.enable', () =>
      session.post('Profiler.setSamplingInterval', { interval: 500 }, () =>
        session.post('Profiler.start', () => process.send('profile:started'))));
  } else if (msg === 'profile:stop') {
    session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFileSync(file, JSON.stringify(res.profile));
      process.send(err ? 'profile:failed' : 'profile:written');
    });
  }
});
`;

/** Options for startService: the profiler preload and an IPC channel. */
export function profilerOptions(dir: string): { nodeArgs: string[]; ipc: boolean } {
  const file = join(dir, 'profile-preload.cjs');
  writeFileSync(file, preload);
  return { nodeArgs: ['-r', file], ipc: true };
}

function command(child: ChildProcess, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: no answer to ${msg}`)), 30000);
    child.once('message', (reply) => {
      clearTimeout(timer);
      resolve(String(reply));
    });
    child.send(msg);
  });
}

export async function startProfile(child: ChildProcess, file: string): Promise<void> {
  const r = await command(child, `profile:start:${file}`);
  if (r !== 'profile:started') throw new Error(`bench: profiler did not start (${r})`);
}

export async function stopProfile(child: ChildProcess): Promise<void> {
  const r = await command(child, 'profile:stop');
  if (r !== 'profile:written') throw new Error(`bench: profile not written (${r})`);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by package and by function, and inclusive time of crossdock's own functions. */
export function summarizeProfile(file: string, label: string, top = 25): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
    startTime: number;
    endTime: number;
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const wallUs = profile.endTime - profile.startTime || 1;
  let idleUs = 0;
  const name = (n: ProfileNode) => {
    const { functionName, url, lineNumber } = n.callFrame;
    const shortUrl = url.replace(`file://${root}/`, '');
    return `${functionName || '(anonymous)'}${shortUrl ? ` ${shortUrl}:${lineNumber + 1}` : ''}`;
  };
  const fnTotals = new Map<string, number>();
  const pkgTotals = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const fn = node.callFrame.functionName;
    if (fn === '(idle)') {
      idleUs += us;
      continue;
    }
    const url = node.callFrame.url.replace(`file://${root}/`, '');
    fnTotals.set(name(node), (fnTotals.get(name(node)) ?? 0) + us);
    const pkg =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
      (url.startsWith('dist/')
        ? 'crossdock (dist/)'
        : url.startsWith('node:')
          ? 'node core (JS)'
          : fn.startsWith('(')
            ? fn
            : url
              ? 'other'
              : 'native / V8 builtins');
    pkgTotals.set(pkg, (pkgTotals.get(pkg) ?? 0) + us);
    // Inclusive time of crossdock's own functions: every dist/ frame on the stack, once each.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n || !n.callFrame.url.includes('/dist/src/')) continue;
      const k = name(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const busyUs = [...fnTotals.values()].reduce((a, b) => a + b, 0) || 1;
  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `    ${pct(us)}  ${k}`);
  return [
    `CPU profile of the service during ${label} (${relative(root, file)}): the main thread was ` +
      `not idle for ${(busyUs / 1000).toFixed(0)} ms of ${(wallUs / 1e6).toFixed(1)} s, idle ` +
      `${((100 * idleUs) / wallUs).toFixed(0)}% (sampled wall time: on a busy machine it includes ` +
      `time spent waiting for a CPU, so compare shares, not absolutes); percentages are of the busy time`,
    '  self time by package:',
    ...list(pkgTotals, 15),
    '  self time by function:',
    ...list(fnTotals, top),
    "  inclusive time of crossdock's functions:",
    ...list(inclusive, top),
  ];
}
