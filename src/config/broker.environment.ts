import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { IsCidrList, toInt } from './environment-validators';
import { SecurityEnvironment } from './security.environment';

/**
 * Reaching the brokers: allowed networks, management API timeouts, the link user, bounds on
 * federation backlogs, certificate checks of TLS endpoints.
 */
export class BrokerEnvironment extends SecurityEnvironment {
  /**
   * Comma-separated CIDR list. When set, broker endpoints (node hosts for management and
   * AMQP) must lie in one of these networks: checked when written and again on every
   * connection, after DNS resolution.
   */
  @IsOptional()
  @IsString()
  @IsCidrList()
  BROKER_ALLOWED_NETWORKS?: string;

  /** Timeout for one management API request to one node. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(120000)
  BROKER_HTTP_TIMEOUT_MS = 3000;

  /**
   * Timeout of one reconciler write (PUT/DELETE/POST) to one node. Longer than reads: the broker
   * restarts links inside the request, and a request the client abandons may store the new value
   * without restarting the link (measured on 3.10.8), which then keeps its old definition.
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(300000)
  BROKER_WRITE_TIMEOUT_MS = 30000;

  /** Bound on federation backlog queues on upstream clusters (guard policy), bytes. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1048576)
  FEDERATION_QUEUE_MAX_BYTES = 1073741824;

  /** The least-privilege user crossdock creates on each cluster for other sites' links. */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, {
    message: 'LINK_USER_NAME must be 1-64 letters, digits, _ . -',
  })
  LINK_USER_NAME = 'crossdock-link';

  /** How often the certificates of a TLS cluster's endpoints are read (expiry, verification). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(86400000)
  TLS_CERT_CHECK_INTERVAL_MS = 3600000;

  /** A link whose clusters present a certificate expiring within this many days is degraded (warning). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3650)
  TLS_CERT_WARN_DAYS = 21;

  /** Within this many days the warning says critical (still degraded: the link works until expiry). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3650)
  TLS_CERT_CRITICAL_DAYS = 7;
}
