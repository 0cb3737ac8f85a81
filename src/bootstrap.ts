import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { Logger, PARAMS_PROVIDER_TOKEN, type Params } from 'nestjs-pino';
import { accessLog } from './common/logging/access-log';
import { loggerOf } from './common/logging/logger.options';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('crossdock')
    .setDescription(
      'Control service for multi-site RabbitMQ: topology registry, cross-site links, reconciliation, lag probes, overflow and audit trail.',
    )
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque (cdk_...)' }, 'token')
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
  // Before the body parser: its errors get a request id and an access line like any other.
  const params = app.get<Params>(PARAMS_PROVIDER_TOKEN);
  app.use(accessLog(() => loggerOf(params)));
  app.use(securityHeaders(), noStore);
  app.useBodyParser('json', { limit: '1mb', type: ['application/json', 'application/*+json'] });
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
  });
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
