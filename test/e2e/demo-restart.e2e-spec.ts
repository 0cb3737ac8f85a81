import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminUrl, dropDatabase, withClient } from '../helpers/postgres';
import { freePort, isPortFree } from '../helpers/ports';
import { repoRoot } from '../setup/run-state';

const sitesScript = join(repoRoot, 'scripts', 'sites');

/** A port block for the demo's two sites that nothing else holds (the demo's own is 36000). */
async function pickBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30000 + Math.floor(Math.random() * 55) * 100;
    const probes = [0, 1, 2, 10, 11, 12, 50, 99, 100, 101, 102, 110, 111, 112, 150, 200, 299];
    const free = await Promise.all(probes.map((p) => isPortFree(base + p)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free port block for the demo sites');
}

interface DemoRun {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the printed address once the demo says it works; rejects if it exits. */
  ready: Promise<{ url: string; afterMs: number }>;
}

/**
 * `scripts/demo`, Ctrl-C, `scripts/sites down`, `scripts/demo` again (the README's own order):
 * the second start re-syncs the credentials of the re-created sites by itself and only prints
 * its address once both clusters are observable and the demo links are healthy.
 */
describe('scripts/demo survives scripts/sites down', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'crossdock-demo-'));
  const sitesDir = join(repoRoot, '.local', `demo-test-sites-${randomBytes(3).toString('hex')}`);
  const db = `crossdock_demo_test_${randomBytes(4).toString('hex')}`;
  let env: NodeJS.ProcessEnv;
  let current: DemoRun | undefined;

  const start = (): DemoRun => {
    const started = Date.now();
    const child = spawn(join(repoRoot, 'scripts', 'demo'), [], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const ready = new Promise<{ url: string; afterMs: number }>((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const url = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1];
        if (url) resolve({ url, afterMs: Date.now() - started });
      });
      child.on('exit', (code) =>
        reject(new Error(`scripts/demo exited with ${code}:\n${err.slice(-4000)}`)),
      );
    });
    return { child, stderr: () => err, ready };
  };

  const stop = async (run: DemoRun | undefined): Promise<void> => {
    if (!run || run.child.exitCode !== null || run.child.signalCode !== null) return;
    const exited = new Promise((r) => run.child.once('exit', r));
    run.child.kill('SIGTERM');
    await exited;
  };

  beforeAll(async () => {
    env = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !/^(CROSSDOCK_|DATABASE_URL$|LOG_FILE$|RECONCILE_|PROBE|OVERFLOW_|AUDIT_)/.test(k),
      ),
    );
    Object.assign(env, {
      PORT: String(await freePort()),
      CROSSDOCK_SITES_BASE_PORT: String(await pickBasePort()),
      CROSSDOCK_SITES_DIR: sitesDir,
      CROSSDOCK_DEMO_DB: db,
      CROSSDOCK_DEMO_STATE_DIR: stateDir,
      LOG_LEVEL: 'warn',
    });
  });

  afterAll(async () => {
    await stop(current);
    spawnSync(sitesScript, ['down', '--dir', sitesDir], { stdio: 'ignore', timeout: 120000 });
    await dropDatabase(db).catch(() => undefined);
    // scripts/demo runs the service as its own role (two-role set-up): leave no role behind.
    await withClient(adminUrl, (c) => c.query(`DROP ROLE IF EXISTS "${db}_svc"`)).catch(
      () => undefined,
    );
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('comes back with observable clusters and healthy links, no manual step', async () => {
    current = start();
    const first = await current.ready;
    expect(current.stderr()).toMatch(/both clusters observable and the demo links healthy/);
    await stop(current);

    const down = spawnSync(sitesScript, ['down', '--dir', sitesDir], {
      encoding: 'utf8',
      timeout: 120000,
    });
    expect(down.status).toBe(0);

    current = start();
    const second = await current.ready;
    const log = current.stderr();
    expect(log).toMatch(/site dc1: admin credentials re-synced with the running sites/);
    expect(log).toMatch(/site dc2: admin credentials re-synced with the running sites/);
    const healthyAfter = Number(/demo links healthy after ([\d.]+) s/.exec(log)?.[1]);
    expect(healthyAfter).toBeLessThanOrEqual(30);
    expect(log).toMatch(/A short tour/);
    expect(log).toMatch(/cut dc1 blackhole/);

    // The demo's claim checked from outside: both clusters observable with the stored credentials.
    const token = /^CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN=(.+)$/m.exec(
      readFileSync(join(stateDir, 'demo.env'), 'utf8'),
    )?.[1];
    const headers = { authorization: `Bearer ${token}` };
    const clusters = (await (await fetch(`${second.url}/clusters`, { headers })).json()) as {
      items: { id: string }[];
    };
    expect(clusters.items).toHaveLength(2);
    for (const c of clusters.items) {
      const obs = (await (
        await fetch(`${second.url}/clusters/${c.id}/observation`, { method: 'POST', headers })
      ).json()) as { reachable: boolean; clusterName: string | null };
      expect(obs.reachable).toBe(true);
      expect(obs.clusterName).toMatch(/^crossdock-\d+-dc[12]$/);
    }
    console.error(
      `demo: first start ${first.afterMs} ms, restart after sites down ${second.afterMs} ms, links healthy ${healthyAfter} s after seeding`,
    );
  }, 1500000);
});
