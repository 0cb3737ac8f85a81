import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { AppModule } from '../../src/app.module';
import { configureApp } from '../../src/bootstrap';

export interface TestApp {
  app: NestExpressApplication;
  http: TestAgent;
  logFile: string;
  close(): Promise<void>;
}

/**
 * Boots the real AppModule in-process (real Postgres from global setup) with the same HTTP
 * configuration as main.ts. Logs go to a per-app file that the secret scan reads later.
 */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const logDir = process.env.CROSSDOCK_TEST_LOG_DIR ?? '/tmp';
  const logFile = join(logDir, `app-${Date.now()}-${randomBytes(3).toString('hex')}.log`);
  const saved: Record<string, string | undefined> = {};
  // Background reconciliation is off unless a test asks for it (it would chase fixture clusters).
  const merged = {
    LOG_FILE: logFile,
    NODE_ENV: 'test',
    RECONCILE_ENABLED: 'false',
    PROBES_ENABLED: 'false',
    OVERFLOW_ENABLED: 'false',
    // Suites fire requests far faster than a client should; limits are tested where asked for.
    RATE_LIMIT_TOKEN_PER_SECOND: '0',
    RATE_LIMIT_ADDRESS_PER_SECOND: '0',
    ...env,
  };
  for (const [k, v] of Object.entries(merged)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication<NestExpressApplication>({
      bodyParser: false,
      bufferLogs: true,
    });
    configureApp(app);
    await app.init();
    return {
      app,
      http: request(app.getHttpServer()),
      logFile,
      close: () => app.close(),
    };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
