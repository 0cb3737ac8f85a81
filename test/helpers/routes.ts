import { RequestMethod, type INestApplication } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ReferenceObject,
  SchemaObject,
} from '@nestjs/swagger';
import { requiredRoleKey } from '../../src/common/access/access.decorators';
import type { Role } from '../../src/common/actor/actor';
import { buildOpenApiDocument } from '../../src/bootstrap';
import { isPublicKey } from '../../src/common/http/public.decorator';

/** The least a caller needs: nothing (`public`) or a role. */
export type RouteNeed = Role | 'public';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

export interface RouteParam {
  name: string;
  required: boolean;
  schema: SchemaObject;
}

export interface RouteInfo {
  /** `METHOD /path/{param}`: the key test tables are indexed by. */
  key: string;
  method: HttpMethod;
  /** OpenAPI-style template, e.g. `/clusters/{id}/nodes/{nodeId}`. */
  path: string;
  /** From the Nest metadata, resolved exactly like AuthGuard resolves it. */
  need: RouteNeed;
  /** `Controller.handler`. */
  handler: string;
  operationId?: string;
  /** False for Nest routes excluded from the document (e.g. @ApiExcludeController). */
  inOpenApi: boolean;
  pathParams: string[];
  queryParams: RouteParam[];
  headerParams: RouteParam[];
  /** JSON request body, with every `$ref` inlined. */
  body?: { required: boolean; schema: SchemaObject };
}

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);
const openApiMethods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

function isRef(x: unknown): x is ReferenceObject {
  return typeof x === 'object' && x !== null && '$ref' in x;
}

/** Inlines `#/components/schemas/...` references (cycles end in an empty schema). */
export function resolveSchema(
  doc: OpenAPIObject,
  schema: SchemaObject | ReferenceObject,
  seen: ReadonlySet<string> = new Set(),
): SchemaObject {
  if (isRef(schema)) {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, '');
    if (seen.has(name)) return {};
    const target = doc.components?.schemas?.[name];
    if (!target) throw new Error(`OpenAPI document has no schema ${schema.$ref}`);
    return resolveSchema(doc, target, new Set([...seen, name]));
  }
  const out: SchemaObject = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, resolveSchema(doc, v, seen)]),
    );
  }
  if (schema.items) out.items = resolveSchema(doc, schema.items, seen);
  for (const key of ['allOf', 'oneOf', 'anyOf'] as const) {
    const list = schema[key];
    if (list) out[key] = list.map((s) => resolveSchema(doc, s, seen));
  }
  if (typeof schema.additionalProperties === 'object') {
    out.additionalProperties = resolveSchema(doc, schema.additionalProperties, seen);
  }
  return out;
}

function joinPath(...parts: string[]): string {
  const segments = parts.flatMap((p) => p.split('/')).filter((s) => s.length > 0);
  return `/${segments.join('/')}`.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function asList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  return [v === undefined ? '/' : String(v)];
}

interface NestRoute {
  key: string;
  method: HttpMethod;
  path: string;
  need: RouteNeed;
  handler: string;
}

function discovery(app: INestApplication): DiscoveryService {
  try {
    return app.get(DiscoveryService, { strict: false });
  } catch {
    return new DiscoveryService(app.get(ModulesContainer));
  }
}

/**
 * Every route Nest registered, with the role it needs, read from the same metadata AuthGuard
 * reads (handler first, controller as fallback; viewer for reads, admin for writes otherwise).
 */
export function nestRoutes(app: INestApplication): NestRoute[] {
  const reflector = new Reflector();
  const scanner = new MetadataScanner();
  const out: NestRoute[] = [];
  for (const wrapper of discovery(app).getControllers()) {
    const instance = wrapper.instance as Record<string, unknown> | undefined;
    const cls = wrapper.metatype as (new (...args: never[]) => unknown) | null;
    if (!instance || !cls) continue;
    const prefixes = asList(Reflect.getMetadata(PATH_METADATA, cls));
    for (const name of scanner.getAllMethodNames(Object.getPrototypeOf(instance))) {
      const fn = instance[name] as (...args: unknown[]) => unknown;
      const methodPath: unknown = Reflect.getMetadata(PATH_METADATA, fn);
      if (methodPath === undefined) continue;
      const requestMethod = Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod;
      const method = RequestMethod[requestMethod] as HttpMethod;
      const targets = [fn, cls];
      const isPublic = reflector.getAllAndOverride<boolean>(isPublicKey, targets);
      const need: RouteNeed = isPublic
        ? 'public'
        : (reflector.getAllAndOverride<Role>(requiredRoleKey, targets) ??
          (readMethods.has(method) ? 'viewer' : 'admin'));
      for (const prefix of prefixes) {
        for (const p of asList(methodPath)) {
          const path = joinPath(prefix, p);
          out.push({
            key: `${method} ${path}`,
            method,
            path,
            need,
            handler: `${cls.name}.${name}`,
          });
        }
      }
    }
  }
  return out;
}

/**
 * Every HTTP route of the app: the operations of the OpenAPI document (buildOpenApiDocument),
 * joined with the Nest handler behind each (for the role), plus Nest routes the document
 * leaves out. Throws when an operation has no handler, so the two views cannot drift apart.
 */
export function listRoutes(app: INestApplication): RouteInfo[] {
  const doc = buildOpenApiDocument(app);
  const byKey = new Map(nestRoutes(app).map((r) => [r.key, r]));
  const routes: RouteInfo[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of openApiMethods) {
      const op: OperationObject | undefined = item[m];
      if (!op) continue;
      const method = m.toUpperCase() as HttpMethod;
      const key = `${method} ${path}`;
      const nest = byKey.get(key);
      if (!nest) throw new Error(`OpenAPI operation ${key} has no Nest handler`);
      byKey.delete(key);
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].filter(
        (p): p is ParameterObject => !isRef(p),
      );
      const pick = (where: string): RouteParam[] =>
        params
          .filter((p) => p.in === where)
          .map((p) => ({
            name: p.name,
            required: p.required ?? false,
            schema: p.schema ? resolveSchema(doc, p.schema) : {},
          }));
      const requestBody = op.requestBody && !isRef(op.requestBody) ? op.requestBody : undefined;
      const json = requestBody?.content['application/json']?.schema;
      routes.push({
        key,
        method,
        path,
        need: nest.need,
        handler: nest.handler,
        operationId: op.operationId,
        inOpenApi: true,
        pathParams: pick('path').map((p) => p.name),
        queryParams: pick('query'),
        headerParams: pick('header'),
        body: json
          ? { required: requestBody?.required ?? false, schema: resolveSchema(doc, json) }
          : undefined,
      });
    }
  }
  for (const r of byKey.values()) {
    routes.push({
      ...r,
      inOpenApi: false,
      pathParams: [...r.path.matchAll(/\{([^}]+)\}/g)].map((x) => x[1]),
      queryParams: [],
      headerParams: [],
    });
  }
  return routes.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}

interface ExpressLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

/**
 * Routes registered on the Express router that Nest does not own (Swagger UI, the JSON/YAML
 * document), and are therefore outside AuthGuard. Catch-all middleware mounts are skipped.
 */
export function nonNestExpressRoutes(app: INestApplication): { method: string; path: string }[] {
  const nest = new Set(nestRoutes(app).map((r) => r.key));
  const express = app.getHttpAdapter().getInstance() as {
    router?: { stack: ExpressLayer[] };
    _router?: { stack: ExpressLayer[] };
  };
  const stack = (express.router ?? express._router)?.stack ?? [];
  const out: { method: string; path: string }[] = [];
  for (const layer of stack) {
    if (!layer.route || layer.route.path.includes('*')) continue;
    for (const [m, on] of Object.entries(layer.route.methods)) {
      if (!on) continue;
      const method = m.toUpperCase();
      const path = joinPath(layer.route.path);
      if (!nest.has(`${method} ${path}`)) out.push({ method, path });
    }
  }
  return out;
}

/** The collection a path parameter addresses: the literal segment before it. */
export function paramCollections(template: string): { param: string; collection: string }[] {
  const segments = template.split('/').filter(Boolean);
  const out: { param: string; collection: string }[] = [];
  segments.forEach((s, i) => {
    const m = /^\{(.+)\}$/.exec(s);
    if (!m) return;
    const before = segments[i - 1];
    if (!before || before.startsWith('{')) {
      throw new Error(`path parameter {${m[1]}} in ${template} follows no collection segment`);
    }
    out.push({ param: m[1], collection: before });
  });
  return out;
}

/** Ids of created fixtures, keyed by collection segment (`sites`, `clusters`, `nodes`, `tokens`). */
export type FixtureIds = Partial<Record<string, string>>;

/**
 * Fills `{param}`s with fixture ids: each parameter takes the id of the collection it follows,
 * so `/clusters/{id}/nodes/{nodeId}` takes `ids.clusters` and `ids.nodes`. Throws for a
 * collection without a fixture, so a new kind of resource cannot be tested by accident with a
 * made-up id.
 */
export function fillPath(template: string, ids: FixtureIds): string {
  let path = template;
  for (const { param, collection } of paramCollections(template)) {
    const id = ids[collection];
    if (id === undefined) {
      throw new Error(`no fixture id for {${param}} (collection "${collection}") in ${template}`);
    }
    path = path.replace(`{${param}}`, encodeURIComponent(id));
  }
  return path;
}
