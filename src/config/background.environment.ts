import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { toInt } from './environment-validators';
import { BrokerEnvironment } from './broker.environment';

/**
 * The background loops: reconcile passes and their triggers, overflow rule evaluation, lag probes.
 */
export class BackgroundEnvironment extends BrokerEnvironment {
  /** Whether this instance runs reconciliation at all (scheduled, on change and on demand). */
  @IsOptional()
  @IsIn(['true', 'false'])
  RECONCILE_ENABLED: 'true' | 'false' = 'true';

  /** Whether this instance evaluates overflow rules. */
  @IsOptional()
  @IsIn(['true', 'false'])
  OVERFLOW_ENABLED: 'true' | 'false' = 'true';

  /** Overflow rule evaluation cadence. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60000)
  OVERFLOW_INTERVAL_MS = 1000;

  /** Whether this instance runs lag probes and link health evaluation. */
  @IsOptional()
  @IsIn(['true', 'false'])
  PROBES_ENABLED: 'true' | 'false' = 'true';

  /** Probe cadence per path (and health evaluation cadence). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60000)
  PROBE_INTERVAL_MS = 1000;

  /**
   * How often broker link state, alarms and backlog are read per cluster. The broker's own
   * statistics (queue depths) refresh every 5 s, so reading them more often mostly re-reads
   * the same figures.
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(200)
  @Max(300000)
  PROBE_BROKER_POLL_MS = 5000;

  /** Window over which probe lag percentiles and loss are judged. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(3600000)
  PROBE_WINDOW_MS = 30000;

  /** Raw probe samples are kept this long; per-minute rollups are kept 30 days. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(8760)
  PROBE_RETENTION_HOURS = 24;

  /** Drift-healing pass over every cluster (0 = off; changes still reconcile at once). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86400000)
  RECONCILE_INTERVAL_MS = 30000;

  /** Registry changes are collected this long before the affected clusters reconcile. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60000)
  RECONCILE_DEBOUNCE_MS = 200;

  /** A pass that would delete more managed objects than this stops and asks for confirmation. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1000000)
  RECONCILE_MAX_DELETES = 50;

  /** Broker writes in flight per cluster. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  RECONCILE_CONCURRENCY = 8;
}
