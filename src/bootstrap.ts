import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { routeJsonParser } from './common/http/body-limits';
import { AppConfig } from './config/config.module';

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
  app.use(routeJsonParser());
  limitListener(app.getHttpServer() as Server, app.get(AppConfig));
  app.enableShutdownHooks();
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
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
