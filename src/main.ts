import 'reflect-metadata';
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
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
    bufferLogs: true,
    bodyParser: false,
  });
  configureApp(app);
  await app.listen(env.PORT, env.HOST);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  process.stdout.write(
    `${JSON.stringify({ level: 'info', msg: 'crossdock listening', url: `http://${env.HOST}:${port}` })}\n`,
  );
}

void main();
