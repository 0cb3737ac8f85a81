import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { toInt } from './environment-validators';
import { BackgroundEnvironment } from './background.environment';

/**
 * The HTTP listener (address, HTTPS, proxies, timeouts, connections) and API admission (rate
 * limits, the write queue, /metrics).
 */
export class HttpEnvironment extends BackgroundEnvironment {
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsOptional()
  @IsString()
  HOST = '127.0.0.1';

  /**
   * PEM certificate (chain) and private key files: with both set the service listens over HTTPS
   * and sends Strict-Transport-Security. Without them it listens over plain HTTP, for a
   * TLS-terminating proxy in front (see TRUST_PROXY).
   */
  @IsOptional()
  @IsString()
  HTTPS_CERT_FILE?: string;

  @IsOptional()
  @IsString()
  HTTPS_KEY_FILE?: string;

  /**
   * Which peers may tell the service the client's address and scheme (X-Forwarded-For,
   * X-Forwarded-Proto): express's `trust proxy`. Off by default; `loopback`, `uniquelocal`,
   * addresses or CIDRs (comma-separated), or a hop count.
   */
  @IsOptional()
  @IsString()
  @Matches(
    /^(false|true|\d{1,2}|(loopback|linklocal|uniquelocal|[0-9A-Fa-f:.]+(\/\d{1,3})?)(\s*,\s*(loopback|linklocal|uniquelocal|[0-9A-Fa-f:.]+(\/\d{1,3})?))*)$/,
    {
      message:
        'TRUST_PROXY must be false, true, a hop count, or loopback/linklocal/uniquelocal/addresses/CIDRs separated by commas',
    },
  )
  TRUST_PROXY = 'false';

  /** max-age of Strict-Transport-Security, sent on requests that arrived over HTTPS. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(63072000)
  HSTS_MAX_AGE_SECONDS = 15552000;

  /**
   * Time a client has to send a request's headers, and its whole request (headers and body):
   * a slow sender is answered 408 and disconnected (checked every quarter second or so).
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600000)
  HTTP_HEADERS_TIMEOUT_MS = 10000;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600000)
  HTTP_REQUEST_TIMEOUT_MS = 30000;

  /** Open connections the listener accepts; more are closed at once. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100000)
  HTTP_MAX_CONNECTIONS = 1000;

  /**
   * Requests per second one API token may make (token bucket; 0 = no limit). Over it: 429 with
   * Retry-After.
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(100000)
  RATE_LIMIT_TOKEN_PER_SECOND = 50;

  /** Requests one token may make at once before the per-second rate applies. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000000)
  RATE_LIMIT_TOKEN_BURST = 200;

  /** Requests per second one client address may make without a token (0 = no limit). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(100000)
  RATE_LIMIT_ADDRESS_PER_SECOND = 20;

  /** Requests one address may make at once without a token before the rate applies. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000000)
  RATE_LIMIT_ADDRESS_BURST = 100;

  /**
   * Writes (POST, PUT, PATCH, DELETE) served at once by this instance; the rest wait in a queue.
   * 0 = automatic: 1 (registry writes are serialised in Postgres anyway). Writes that spend their
   * time on brokers (reconcile, observation, import) do not queue.
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(200)
  WRITE_CONCURRENCY = 0;

  /** Writes allowed to wait for a slot; more are answered 429 at once. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(100000)
  WRITE_QUEUE_MAX = 1000;

  /** Longest wait of a queued write for a slot before it is answered 429. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600000)
  WRITE_QUEUE_TIMEOUT_MS = 15000;

  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`. */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9._~+/=-]{32,512}$/, {
    message: 'METRICS_TOKEN must be 32-512 characters of A-Z a-z 0-9 . _ ~ + / = -',
  })
  METRICS_TOKEN?: string;

  /** A rendered /metrics answer is reused this long (0 = render every scrape). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60000)
  METRICS_CACHE_MS = 1000;
}
