import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import type { Type } from '@nestjs/common';
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
export async function createTestApp(
  env: Record<string, string> = {},
  extra: { controllers?: Type[] } = {},
): Promise<TestApp> {
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
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule],
      controllers: extra.controllers ?? [],
    }).compile();
    const app = moduleRef.createNestApplication<NestExpressApplication>({
      bodyParser: false,
      bufferLogs: true,
    });
    // In a subdirectory: specs that read the log files directly read only the top level.
    mkdirSync(join(logDir, 'responses'), { recursive: true });
    const responses = captureResponses(
      app,
      join(logDir, 'responses', basename(logFile).replace(/\.log$/, '.txt')),
    );
    configureApp(app);
    try {
      await app.init();
    } catch (err) {
      // A failed start must not leave pools, timers or sockets behind (the run would not exit).
      await app.close().catch(() => undefined);
      await new Promise<void>((resolve) => responses.end(resolve));
      throw err;
    }
    return {
      app,
      http: request(app.getHttpServer()),
      logFile,
      close: async () => {
        await app.close();
        await new Promise<void>((resolve) => responses.end(resolve));
      },
    };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * Copies every response (status, headers, body) into the log directory, where the e2e global
 * teardown's secret scan reads it. The one response meant to carry secrets is left out: an
 * admin's definitions export with `credentials=include`.
 */
function captureResponses(app: NestExpressApplication, file: string): WriteStream {
  const out = createWriteStream(file, { flags: 'a' });
  app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
    if (/[?&]credentials=include(&|$)/.test(req.url ?? '')) {
      next();
      return;
    }
    const chunks: Buffer[] = [];
    const keep = (chunk: unknown) => {
      if (typeof chunk === 'string') chunks.push(Buffer.from(chunk));
      else if (Buffer.isBuffer(chunk)) chunks.push(chunk);
    };
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') keep(chunk);
      if (!out.writableEnded) {
        out.write(
          `${req.method} ${req.url} ${res.statusCode} ${JSON.stringify(res.getHeaders())}\n${Buffer.concat(chunks).toString('utf8')}\n`,
        );
      }
      return end(chunk, ...rest);
    }) as typeof res.end;
    next();
  });
  return out;
}
