import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/config.module';
import { buildDataSourceOptions } from './data-source-options';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (env: AppConfig) => ({
        ...buildDataSourceOptions({
          url: env.DATABASE_URL,
          poolSize: env.DB_POOL_SIZE,
          connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
          statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
        }),
        // Start even when Postgres is down: readiness says 503 and requests get 503 until it is back.
        retryAttempts: 0,
        manualInitialization: false,
      }),
    }),
  ],
})
export class DatabaseModule {}
