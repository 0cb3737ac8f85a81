import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { toInt } from './environment-validators';

/**
 * Postgres: the registry database, its pool and timeouts, and the sessions that hold advisory
 * locks.
 */
export class DatabaseEnvironment {
  @IsString()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL!: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(2)
  @Max(200)
  DB_POOL_SIZE = 20;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60000)
  DB_CONNECT_TIMEOUT_MS = 1000;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600000)
  DB_STATEMENT_TIMEOUT_MS = 5000;

  /**
   * `idle_session_timeout` of the sessions holding advisory locks (reconcile clusters, probe
   * paths, overflow rules). A frozen or stalled instance loses its locks after this long; live
   * holders ping every quarter of it, and a reconciler does not write to a broker on a lock
   * confirmation older than half of it (it re-confirms first).
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600000)
  LOCK_SESSION_TIMEOUT_MS = 10000;

  /**
   * Read by the migration command only: the role that owns the schema. When set, migrations run
   * as this role and the role of DATABASE_URL is granted read and write on the registry but only
   * SELECT and INSERT on the audit tables.
   */
  @IsOptional()
  @IsString()
  @Matches(/^postgres(ql)?:\/\/\S+$/, {
    message: 'DATABASE_MIGRATION_URL must be a postgres:// URL',
  })
  DATABASE_MIGRATION_URL?: string;
}
