import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';

/** The README's curl examples run as written against a live instance: a README that lies is a bug. */
describe('docs/api.md examples', () => {
  let t: TestApp;
  let url: string;

  beforeAll(async () => {
    t = await createTestApp();
    await t.app.listen(0, '127.0.0.1');
    const addr = t.app.getHttpServer().address() as { port: number };
    url = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(() => t.close());

  it('runs every curl example in the API overview successfully', async () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'docs', 'api.md'), 'utf8');
    const section = readme.slice(readme.indexOf('Examples (run by'));
    const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    const script = (block as string)
      .replace(/"name":"dc1"/, `"name":"readme-${Date.now().toString(36)}"`)
      .replace(/"name":"ci-pipeline"/, `"name":"readme-${Date.now().toString(36)}"`);
    // Asynchronous on purpose: the server answering curl lives in this process. Standard input is
    // /dev/null: bash given a socket there (Node's default stdio) takes itself for an ssh session
    // and reads /etc/bash.bashrc, which fails under `set -u` on some systems.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>(
      (resolve) => {
        const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
          env: { ...process.env, URL: url, TOKEN: bootstrapToken() },
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 30000,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const outputs = r.stdout.split(/(?<=})\s*(?=\{)/);
    expect(outputs.length).toBe((block as string).split('\ncurl').length);
    for (const out of outputs) expect(() => JSON.parse(out)).not.toThrow();
  });
});
