import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `npm test` ends with scripts/tree-check verify: a suite that dirties the checkout fails. */
describe('scripts/tree-check', () => {
  let repo: string;
  const run = (cmd: string) =>
    spawnSync(join(repo, 'scripts', 'tree-check'), [cmd], { cwd: repo, encoding: 'utf8' });

  beforeEach(() => {
    repo = mkdtempSync(join(tmpdir(), 'tree-check-'));
    mkdirSync(join(repo, 'scripts'));
    copyFileSync(
      join(__dirname, '..', 'scripts', 'tree-check'),
      join(repo, 'scripts', 'tree-check'),
    );
    writeFileSync(join(repo, '.gitignore'), '.local/\n');
    writeFileSync(join(repo, 'a.txt'), 'a\n');
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'ignore' });
    git('init', '-q');
    git('add', '-A');
    git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'init');
  });
  afterEach(() => rmSync(repo, { recursive: true, force: true }));

  it('passes when the run leaves a clean checkout clean', () => {
    expect(run('save').status).toBe(0);
    mkdirSync(join(repo, '.local'));
    writeFileSync(join(repo, '.local', 'ignored.log'), 'logs are ignored\n');
    const r = run('verify');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/git status --porcelain is empty/);
  });

  it('fails, naming the file, when the run changes a tracked file', () => {
    run('save');
    writeFileSync(join(repo, 'a.txt'), 'rewritten\n');
    const r = run('verify');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/a\.txt/);
  });

  it('fails when the run leaves a new untracked file', () => {
    run('save');
    writeFileSync(join(repo, 'package-lock.json'), '{}\n');
    const r = run('verify');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/package-lock\.json/);
  });

  it('takes local edits made before the run as the baseline', () => {
    writeFileSync(join(repo, 'a.txt'), 'edited before the run\n');
    run('save');
    const r = run('verify');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/as it found it/);
  });
});
