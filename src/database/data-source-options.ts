import type { DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations';

export interface DatabaseSettings {
  url: string;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  /** idle_in_transaction_session_timeout; default twice the statement timeout. */
  idleInTransactionTimeoutMs?: number;
}

/**
 * The one definition of how crossdock talks to Postgres, shared by the Nest app, the migration
 * CLI and the test harness. Timeouts turn an outage into fast 503s instead of requests queueing
 * forever for a pooled connection. The entity list is passed in by the composition root
 * (src/entities.ts): the database layer does not know the features' tables; tools that only run
 * SQL (migrations, re-encryption, audit pruning) pass none.
 */
export function buildDataSourceOptions(
  db: DatabaseSettings,
  entities: NonNullable<DataSourceOptions['entities']> = [],
): DataSourceOptions {
  return {
    type: 'postgres',
    url: db.url,
    entities,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: 'crossdock',
    connectTimeoutMS: db.connectTimeoutMs,
    poolSize: db.poolSize,
    extra: {
      // statement_timeout bounds server-side work; query_timeout bounds the wait on a dead socket.
      statement_timeout: db.statementTimeoutMs,
      query_timeout: db.statementTimeoutMs + 1000,
      idle_in_transaction_session_timeout:
        db.idleInTransactionTimeoutMs ?? db.statementTimeoutMs * 2,
      connectionTimeoutMillis: db.connectTimeoutMs,
      keepAlive: true,
    },
  };
}

export function databaseSettingsFromEnv(env: Record<string, string | undefined>): DatabaseSettings {
  const url = env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  return {
    url,
    poolSize: Number(env.DB_POOL_SIZE ?? 20),
    connectTimeoutMs: Number(env.DB_CONNECT_TIMEOUT_MS ?? 1000),
    statementTimeoutMs: Number(env.DB_STATEMENT_TIMEOUT_MS ?? 5000),
  };
}
