import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './bootstrap';
import { EnvironmentError, validateEnvironment } from './config/environment';

async function main(): Promise<void> {
  // Fail fast, naming the variables and never their values, before any module starts.
  let env;
  try {
    env = validateEnvironment(process.env);
  } catch (err) {
    if (err instanceof EnvironmentError) {
      process.stderr.write(
        `${JSON.stringify({ level: 'fatal', msg: err.message, variables: err.variables })}\n`,
      );
      process.exit(78);
    }
    throw err;
  }
  let httpsOptions: { cert: Buffer; key: Buffer } | undefined;
  if (env.HTTPS_CERT_FILE && env.HTTPS_KEY_FILE) {
    try {
      httpsOptions = {
        cert: readFileSync(env.HTTPS_CERT_FILE),
        key: readFileSync(env.HTTPS_KEY_FILE),
      };
      // A certificate and key that do not belong together fail here, not on the first client.
      createSecureContext(httpsOptions);
    } catch (err) {
      process.stderr.write(
        `${JSON.stringify({ level: 'fatal', msg: `HTTPS_CERT_FILE/HTTPS_KEY_FILE unusable: ${(err as Error).message}`, variables: ['HTTPS_CERT_FILE', 'HTTPS_KEY_FILE'] })}\n`,
      );
      process.exit(78);
    }
  }
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
    bufferLogs: true,
    bodyParser: false,
    ...(httpsOptions ? { httpsOptions } : {}),
  });
  configureApp(app);
  await app.listen(env.PORT, env.HOST);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  process.stdout.write(
    `${JSON.stringify({ level: 'info', msg: 'crossdock listening', url: `${httpsOptions ? 'https' : 'http'}://${env.HOST}:${port}` })}\n`,
  );
}

void main();
