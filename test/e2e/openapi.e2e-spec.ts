import { existsSync, readFileSync } from 'node:fs';
import type { OpenAPIObject } from '@nestjs/swagger';
import { openApiFile, serializeOpenApi, summarizeDiff } from '../../scripts/openapi';
import { buildOpenApiDocument } from '../../src/bootstrap';
import { createTestApp, type TestApp } from '../helpers/app';

/** Served without a token on purpose; everything else in the document must demand one. */
const publicPath = (path: string): boolean => path.startsWith('/health/');

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
type Method = (typeof methods)[number];

interface Operation {
  method: Method;
  path: string;
  security: Record<string, string[]>[] | undefined;
}

function operations(doc: OpenAPIObject): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    methods
      .filter((m) => item[m] !== undefined)
      .map((method) => ({
        method,
        path,
        // An operation's own `security` replaces the document-wide requirement.
        security: item[method]?.security ?? doc.security,
      })),
  );
}

const needsToken = (op: Operation): boolean =>
  (op.security ?? []).some((req) => Object.keys(req).includes('token'));

describe('OpenAPI document', () => {
  let t: TestApp;
  let committedText: string;
  let committed: OpenAPIObject;

  beforeAll(async () => {
    if (!existsSync(openApiFile))
      throw new Error('docs/openapi.json is missing: run `npm run openapi` and commit it');
    committedText = readFileSync(openApiFile, 'utf8');
    committed = JSON.parse(committedText) as OpenAPIObject;
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it('matches the committed docs/openapi.json', () => {
    const generated = serializeOpenApi(buildOpenApiDocument(t.app));
    if (generated !== committedText) {
      throw new Error(
        `docs/openapi.json is out of date: run \`npm run openapi\` and commit the result.\n${summarizeDiff(committed, JSON.parse(generated))}`,
      );
    }
  });

  it('serves Swagger UI at /docs without a token', async () => {
    const res = await t.http.get('/docs').redirects(1).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toMatch(/swagger-ui/i);
  });

  it('serves the same document at /docs/openapi.json without a token', async () => {
    const res = await t.http.get('/docs/openapi.json').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(serializeOpenApi(res.body)).toBe(committedText);
  });

  it('keeps /metrics and the docs themselves out of the document', () => {
    const paths = Object.keys(committed.paths);
    expect(paths.filter((p) => p === '/metrics' || p.startsWith('/docs'))).toEqual([]);
    expect(paths.filter(publicPath).length).toBeGreaterThan(0);
  });

  it('requires the bearer token on every operation except the public ones', () => {
    expect(committed.components?.securitySchemes?.token).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    const unprotected = operations(committed)
      .filter((op) => !publicPath(op.path) && !needsToken(op))
      .map((op) => `${op.method.toUpperCase()} ${op.path}`);
    expect(unprotected).toEqual([]);
  });

  it('declares exactly the operations the server answers without a token as public', async () => {
    const uuid = '00000000-0000-4000-8000-000000000000';
    const answered: string[] = [];
    for (const op of operations(committed)) {
      if (op.method === 'head' || op.method === 'options' || op.method === 'trace') continue;
      const url = op.path.replace(/\{[^}]+\}/g, uuid);
      const res = await t.http[op.method](url);
      if (res.status !== 401) answered.push(`${op.method.toUpperCase()} ${op.path}`);
    }
    expect(answered).toEqual(
      operations(committed)
        .filter((op) => publicPath(op.path))
        .map((op) => `${op.method.toUpperCase()} ${op.path}`),
    );
  });

  // Known gap: @Public() routes inherit the document-wide token requirement, so the document
  // claims /health/* needs a token. Once Public() also marks the operation `security: []`,
  // this starts passing: drop `.failing` and regenerate docs/openapi.json.
  it('declares the public operations with an empty security requirement', () => {
    const claimed = operations(committed)
      .filter((op) => publicPath(op.path) && needsToken(op))
      .map((op) => `${op.method.toUpperCase()} ${op.path}`);
    expect(claimed).toEqual([]);
  });
});
