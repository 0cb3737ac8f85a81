import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(__dirname, '..');

function markdownFiles(): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(root, 'docs', f));
  return [join(root, 'README.md'), ...docs, join(root, 'bench', 'README.md')].filter((f) =>
    existsSync(f),
  );
}

/** Text outside fenced code blocks, and the fenced blocks themselves. */
function split(md: string): { prose: string; fences: { lang: string; body: string }[] } {
  const fences: { lang: string; body: string }[] = [];
  const prose = md.replace(/^```(\w*)\n([\s\S]*?)^```$/gm, (_m, lang: string, body: string) => {
    fences.push({ lang, body });
    return '';
  });
  return { prose: prose.replace(/`[^`\n]*`/g, ''), fences };
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(md: string): Set<string> {
  const out = new Set<string>();
  for (const m of split(md).prose.matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(
      m[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return out;
}

describe('docs', () => {
  const files = markdownFiles();

  it.each(files.map((f) => [relative(root, f), f]))(
    '%s: every link stays in the repository and resolves',
    (_name, file) => {
      const { prose } = split(readFileSync(file, 'utf8'));
      const problems: string[] = [];
      for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
          problems.push(`${target}: links leave the repository`);
          continue;
        }
        const [path, anchor] = target.split('#');
        const dest = path ? resolve(dirname(file), path) : file;
        if (relative(root, dest).startsWith('..')) {
          problems.push(`${target}: outside the repository`);
          continue;
        }
        if (!existsSync(dest)) {
          problems.push(`${target}: no such file`);
          continue;
        }
        if (anchor && statSync(dest).isFile() && !anchors(readFileSync(dest, 'utf8')).has(anchor))
          problems.push(`${target}: no heading #${anchor}`);
      }
      expect(problems).toEqual([]);
    },
  );

  it('README commands still exist: scripts and npm scripts', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const { fences } = split(readFileSync(join(root, 'README.md'), 'utf8'));
    const missing: string[] = [];
    for (const f of fences.filter((x) => x.lang === 'bash' || x.lang === 'sh')) {
      for (const line of f.body.split('\n')) {
        const cmd = line.trim();
        const script = /^(scripts\/[\w.-]+)/.exec(cmd)?.[1];
        if (script && !existsSync(join(root, script))) missing.push(script);
        const npm = /^npm (?:run ([\w:.-]+)|(test|start))\b/.exec(cmd);
        const name = npm?.[1] ?? npm?.[2];
        if (name && !pkg.scripts[name]) missing.push(`npm script ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('no page points at material outside the repository', () => {
    const offenders = markdownFiles().filter((f) => readFileSync(f, 'utf8').includes('../shared/'));
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });
});
