import {
  type DynamicModule,
  Global,
  Injectable,
  Module,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/config.module';
import { buildDataSourceOptions } from './data-source-options';
import { LockSessionPool, lockSessionOptions } from './lock-session';

/** The sessions cluster locks are taken on (reconciler and overflow engine share them). */
@Injectable()
export class ClusterLockSessions extends LockSessionPool implements OnModuleDestroy {
  constructor(env: AppConfig) {
    super(lockSessionOptions(env, 'crossdock-cluster-lock'));
  }

  onModuleDestroy(): Promise<void> {
    return this.close();
  }
}

/**
 * Postgres for the whole app. Global on purpose: every feature reads and writes the registry and
 * the cluster-lock sessions are shared by the reconciler and the overflow engine, so importing it
 * into each module would add noise and no boundary (TypeORM's DataSource is global anyway).
 * The composition root passes the entity list, so this folder does not know the features.
 */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(entities: NonNullable<DataSourceOptions['entities']>): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (env: AppConfig) => ({
            ...buildDataSourceOptions(
              {
                url: env.DATABASE_URL,
                poolSize: env.DB_POOL_SIZE,
                connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
                statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
                // A frozen instance inside a transaction holds its transaction locks (the audit chain
                // lock above all) no longer than it holds its session locks.
                idleInTransactionTimeoutMs: Math.min(
                  env.DB_STATEMENT_TIMEOUT_MS * 2,
                  env.LOCK_SESSION_TIMEOUT_MS,
                ),
              },
              entities,
            ),
            // At start-up wait (bounded) for Postgres; once running, an outage gives fast 503s and the
            // pool reconnects by itself when the database returns.
            retryAttempts: 15,
            retryDelay: 2000,
          }),
        }),
      ],
      providers: [ClusterLockSessions],
      exports: [ClusterLockSessions],
    };
  }
}
