/**
 * Writes docs/openapi.json from the app's controllers and DTOs, or checks that it is current.
 *
 *   npm run openapi               regenerate docs/openapi.json
 *   npm run openapi -- --check    exit 1 (with a summary of differences) if the file is stale
 *   npm run openapi -- --built    generate from the built app (dist/, after `npx nest build`)
 *                                 instead of the sources; combine with --check to see whether
 *                                 what `node dist/src/main.js` serves at /docs matches the file
 *
 * The document is generated without starting anything: AppModule is scanned in preview mode, so
 * no provider is instantiated and no database is needed.
 *
 * tsx compiles TypeScript with esbuild, which cannot emit decorator metadata (`design:type`,
 * `design:paramtypes`); without it @nestjs/swagger sees no request bodies, no query or path
 * parameters and no schemas. The sources are therefore compiled here with @swc/core using the
 * very options jest uses, so this script and the e2e test (test/e2e/openapi.e2e-spec.ts)
 * generate the same document. Nothing from src/ may be imported statically by this file (it
 * would be compiled by esbuild first and cached without metadata).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join, relative } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';

export const repoRoot = join(__dirname, '..');
export const openApiFile = join(repoRoot, 'docs', 'openapi.json');

/** Object keys sorted recursively; array order is meaningful in OpenAPI and is kept. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** The committed form: sorted keys, 2-space indent, trailing newline. */
export function serializeOpenApi(doc: unknown): string {
  return `${JSON.stringify(sortKeys(doc), null, 2)}\n`;
}

function pathTo(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

function brief(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Differences from `expected` to `actual`: `+` only in actual, `-` only in expected, `~` changed. */
export function diffJson(expected: unknown, actual: unknown, at = ''): string[] {
  if (JSON.stringify(expected) === JSON.stringify(actual)) return [];
  const bothArrays = Array.isArray(expected) && Array.isArray(actual);
  const bothObjects =
    !bothArrays &&
    expected !== null &&
    actual !== null &&
    typeof expected === 'object' &&
    typeof actual === 'object' &&
    !Array.isArray(expected) &&
    !Array.isArray(actual);
  if (bothArrays) {
    const [a, b] = [expected as unknown[], actual as unknown[]];
    if (a.length !== b.length) return [`~ ${at || '(root)'}: ${brief(a)} -> ${brief(b)}`];
    return a.flatMap((v, i) => diffJson(v, b[i], pathTo(at, i)));
  }
  if (bothObjects) {
    const [a, b] = [expected as Record<string, unknown>, actual as Record<string, unknown>];
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => {
      if (!(k in b)) return [`- ${pathTo(at, k)}`];
      if (!(k in a)) return [`+ ${pathTo(at, k)}: ${brief(b[k])}`];
      return diffJson(a[k], b[k], pathTo(at, k));
    });
  }
  return [`~ ${at || '(root)'}: ${brief(expected)} -> ${brief(actual)}`];
}

export function summarizeDiff(expected: unknown, actual: unknown, max = 40): string {
  const lines = diffJson(expected, actual);
  if (lines.length === 0) return 'same content, different formatting or key order';
  const shown = lines.slice(0, max);
  if (lines.length > max) shown.push(`... and ${lines.length - max} more`);
  return `${lines.length} difference(s) (- only in docs/openapi.json, + only in the app, ~ changed):\n  ${shown.join('\n  ')}`;
}

type Compile = (this: unknown, content: string, filename: string) => void;
type Loader = (module: { _compile: Compile }, filename: string) => void;

/** Compiles src/ (and migrations/) with @swc/core and the e2e project's options from jest.config.js. */
function useSwcForTypeScript(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { transformSync } = require('@swc/core') as typeof import('@swc/core');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jestConfig = require(join(repoRoot, 'jest.config.js')) as {
    projects: {
      displayName: string;
      transform: Record<string, [string, Record<string, unknown>]>;
    }[];
  };
  const project = jestConfig.projects.find((p) => p.displayName === 'e2e');
  const swc = project && Object.values(project.transform).find(([name]) => name === '@swc/jest');
  if (!swc) throw new Error('openapi: no @swc/jest transform in the e2e project of jest.config.js');
  const extensions = (Module as unknown as { _extensions: Record<string, Loader> })._extensions;
  extensions['.ts'] = (module, filename) => {
    const { code } = transformSync(readFileSync(filename, 'utf8'), {
      ...swc[1],
      filename,
      module: { type: 'commonjs' },
      sourceMaps: 'inline',
      swcrc: false,
      configFile: false,
    });
    module._compile(code, filename);
  };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the document from AppModule without listening or touching the database. */
export async function generateOpenApi(source: 'src' | 'built'): Promise<OpenAPIObject> {
  // Module files may read these at import time; preview mode never connects anywhere.
  process.env.DATABASE_URL ??= 'postgres://openapi@127.0.0.1:1/openapi';
  process.env.CROSSDOCK_ENCRYPTION_KEY ??= randomBytes(32).toString('base64');
  process.env.LOG_LEVEL ??= 'silent';
  const base = source === 'built' ? join(repoRoot, 'dist', 'src') : join(repoRoot, 'src');
  if (source === 'built') {
    const main = join(base, 'main.js');
    if (!existsSync(main))
      throw new Error('openapi: dist/src/main.js missing; run `npx nest build`');
    if (newestMtime(join(repoRoot, 'src')) > statSync(main).mtimeMs)
      console.warn('openapi: warning: src/ is newer than dist/; run `npx nest build` first');
  } else {
    useSwcForTypeScript();
  }
  /* eslint-disable @typescript-eslint/no-require-imports */
  require('reflect-metadata');
  const { NestFactory } = require('@nestjs/core') as typeof import('@nestjs/core');
  const { AppModule } = require(join(base, 'app.module')) as { AppModule: new () => unknown };
  const { buildOpenApiDocument } = require(join(base, 'bootstrap')) as {
    buildOpenApiDocument(app: INestApplication): OpenAPIObject;
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
  const app = await NestFactory.create(AppModule, {
    preview: true,
    logger: false,
    abortOnError: false,
    bodyParser: false,
  });
  try {
    return buildOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--check' && a !== '--built');
  if (unknown.length > 0) {
    console.error(`openapi: unknown argument(s) ${unknown.join(' ')}; use --check and/or --built`);
    return 2;
  }
  const check = argv.includes('--check');
  const source = argv.includes('--built') ? 'built' : 'src';
  const text = serializeOpenApi(await generateOpenApi(source));
  const shown = relative(process.cwd(), openApiFile) || openApiFile;
  if (!check) {
    mkdirSync(dirname(openApiFile), { recursive: true });
    const before = existsSync(openApiFile) ? readFileSync(openApiFile, 'utf8') : undefined;
    writeFileSync(openApiFile, text);
    const doc = JSON.parse(text) as OpenAPIObject;
    const operations = Object.values(doc.paths).reduce((n, p) => n + Object.keys(p).length, 0);
    console.error(
      `openapi: ${before === text ? 'unchanged' : 'wrote'} ${shown} (${Object.keys(doc.paths).length} paths, ${operations} operations, ${Object.keys(doc.components?.schemas ?? {}).length} schemas, from ${source})`,
    );
    return 0;
  }
  if (!existsSync(openApiFile)) {
    console.error(`openapi: ${shown} does not exist; run \`npm run openapi\``);
    return 1;
  }
  const committed = readFileSync(openApiFile, 'utf8');
  if (committed === text) {
    console.error(`openapi: ${shown} is up to date (checked against ${source})`);
    return 0;
  }
  let summary: string;
  try {
    summary = summarizeDiff(JSON.parse(committed), JSON.parse(text));
  } catch {
    summary = 'the committed file is not valid JSON';
  }
  console.error(
    `openapi: ${shown} differs from the document generated from ${source}; run \`npm run openapi\`.\n${summary}`,
  );
  return 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`openapi: failed: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
      process.exit(1);
    },
  );
}
