import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ModulesContainer } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { Logger, PARAMS_PROVIDER_TOKEN, type Params } from 'nestjs-pino';
import { accessLog } from './common/logging/access-log';
import { loggerOf } from './common/logging/logger.options';
import { routeJsonParser } from './common/http/body-limits';
import { withLiveFastPath } from './common/http/live-fast-path';
import { RateLimits } from './common/limits/limits.middleware';
import {
  bindWriteAdmission,
  WriteAdmissionInterceptor,
} from './common/limits/write-admission.interceptor';
import { MetricsService } from './metrics/metrics.service';
import { AppConfig } from './config/config.module';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('crossdock')
    .setDescription(
      'Control service for multi-site RabbitMQ: topology registry, cross-site links, reconciliation, lag probes, overflow and audit trail.',
    )
    .setVersion('0.1.0')
    .addServer('/', 'This crossdock service (paths are relative to where it is served)')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'opaque',
        description:
          'An opaque string, sent unchanged and never parsed by clients. Tokens made with POST /tokens start with `cdk_`; the bootstrap admin token (CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN, at least 32 characters) is whatever string was configured, e.g. `demo-...` in the demo.',
      },
      'token',
    )
    .addSecurityRequirements('token')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Everything main.ts and the e2e tests both need, so tests exercise the real HTTP stack. */
export function configureApp(app: NestExpressApplication): void {
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  const env = app.get(AppConfig);
  app.set('trust proxy', trustProxySetting(env.TRUST_PROXY));
  // Before the body parser: its errors get a request id and an access line like any other.
  const params = app.get<Params>(PARAMS_PROVIDER_TOKEN);
  app.use(accessLog(() => loggerOf(params)));
  app.use(securityHeaders(), strictTransport(env.HSTS_MAX_AGE_SECONDS), noStore);
  app.use(routeJsonParser());
  limitListener(app.getHttpServer() as Server, env);
  const metrics = app.get(MetricsService);
  withLiveFastPath(app.getHttpServer() as Server, {
    securityHeaders: securityHeaders(),
    addresses: app.get(RateLimits).addresses,
    logger: () => loggerOf(params),
    durationSeries: (method) =>
      metrics.httpDuration.labels({ method, route: '/health/live', status: '2xx' }),
  });
  bindWriteAdmission(app.get(ModulesContainer), app.get(WriteAdmissionInterceptor));
  app.enableShutdownHooks();
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
}

/**
 * Standard protective headers (nosniff, frame and referrer protection) with a content policy
 * that fits the only HTML served, the /docs Swagger UI: scripts and styles from this origin,
 * inline styles and data: images (the UI uses both), nothing framed, nothing from elsewhere.
 */
export function securityHeaders() {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    // Sent only on requests that came over HTTPS (strictTransport), never on plain HTTP.
    strictTransportSecurity: false,
  });
}

/** express `trust proxy` from TRUST_PROXY: false, true, a hop count or a list of addresses. */
export function trustProxySetting(value: string): boolean | number | string {
  if (value === 'false' || value === '') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

/**
 * Strict-Transport-Security on answers to requests that arrived over HTTPS: the service's own
 * HTTPS listener, or a trusted proxy saying so (X-Forwarded-Proto with TRUST_PROXY).
 */
export function strictTransport(maxAgeSeconds: number) {
  const value = `max-age=${maxAgeSeconds}; includeSubDomains`;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.secure && maxAgeSeconds > 0) res.setHeader('Strict-Transport-Security', value);
    next();
  };
}

/**
 * API answers are never stored by browsers or proxies: some carry secrets (a new token), and
 * all of them describe state that changes. Only the static /docs assets may be cached.
 */
function noStore(req: Request, res: Response, next: NextFunction): void {
  if (!req.path.startsWith('/docs/') || req.path === '/docs/openapi.json') {
    res.setHeader('Cache-Control', 'no-store');
  }
  next();
}

export interface CheckingInterval {
  connectionsCheckingInterval: number;
}

/**
 * Bounds on the listener: a client has HTTP_HEADERS_TIMEOUT_MS for its headers and
 * HTTP_REQUEST_TIMEOUT_MS for its whole request (Node answers 408 and closes the connection; the
 * deadlines are checked every quarter second or so instead of Node's default 30 s, so a body
 * trickled in byte by byte cannot hold a connection for minutes), and at most
 * HTTP_MAX_CONNECTIONS connections are open at once (Node closes further ones at once).
 */
export function limitListener(
  server: Server,
  env: Pick<
    AppConfig,
    'HTTP_HEADERS_TIMEOUT_MS' | 'HTTP_REQUEST_TIMEOUT_MS' | 'HTTP_MAX_CONNECTIONS'
  >,
): void {
  server.requestTimeout = env.HTTP_REQUEST_TIMEOUT_MS;
  server.headersTimeout = Math.min(env.HTTP_HEADERS_TIMEOUT_MS, env.HTTP_REQUEST_TIMEOUT_MS);
  // Read by Node when the server starts listening (configureApp runs before listen); the typings
  // know it only as a createServer option.
  (server as Server & CheckingInterval).connectionsCheckingInterval = Math.min(
    250,
    env.HTTP_HEADERS_TIMEOUT_MS / 4,
  );
  server.maxConnections = env.HTTP_MAX_CONNECTIONS;
}
