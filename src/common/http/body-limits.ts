import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { json } from 'express';

/**
 * Work on a request body is bounded before anything expensive looks at it: its size per route
 * (here, read by the JSON parser), then its shape (JsonBodyMiddleware: depth, members per array or
 * object, values in all) before validation, whose cost grows with the body (some validators are
 * quadratic in an array's length).
 */
export interface BodyLimit {
  /** Bytes of JSON. */
  bytes: number;
}

const kb = 1024;

/** Routes whose bodies are larger than the default, and why. */
const routeLimits: { method: string; path: RegExp; limit: BodyLimit; why: string }[] = [
  {
    method: 'POST|PATCH',
    path: /^\/links\/federation(?:\/[^/]{1,64})?$/,
    limit: { bytes: 1024 * kb },
    why: 'up to 200 target names of up to 255 characters, JSON-escaped',
  },
  {
    method: 'POST|PATCH|PUT',
    path: /^\/clusters(?:\/[^/]{1,64}(?:\/[a-z-]{1,32})?)?$/,
    limit: { bytes: 256 * kb },
    why: 'nodes, up to 100 vhosts and link endpoints, replication rules',
  },
];

export const defaultBodyLimit: BodyLimit = { bytes: 64 * kb };

/** The body limit of a request. */
export function bodyLimitOf(method: string, path: string): BodyLimit {
  for (const r of routeLimits)
    if (r.method.split('|').includes(method) && r.path.test(path)) return r.limit;
  return defaultBodyLimit;
}

/** Most members one JSON array or object of any request body may have (the DTOs allow 200). */
export const maxBodyMembers = 1000;
/** Most values (of any kind, nested ones included) in one request body. */
export const maxBodyValues = 20000;

const jsonTypes = ['application/json', 'application/*+json'];

/** The JSON body parser, with the size limit of the request's route. */
export function routeJsonParser(): RequestHandler {
  const parsers = new Map<number, RequestHandler>();
  const parserFor = (bytes: number): RequestHandler => {
    let p = parsers.get(bytes);
    if (!p) {
      p = json({ limit: bytes, type: jsonTypes });
      parsers.set(bytes, p);
    }
    return p;
  };
  return (req: Request, res: Response, next: NextFunction) =>
    parserFor(bodyLimitOf(req.method, req.path).bytes)(req, res, next);
}
