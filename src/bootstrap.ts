import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
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
  app.useBodyParser('json', { limit: '1mb', type: ['application/json', 'application/*+json'] });
  app.enableShutdownHooks();
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
}
