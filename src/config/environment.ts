import { plainToInstance, Transform } from 'class-transformer';
import { parseCidrList } from './cidr';
import {
  getMetadataStorage,
  registerDecorator,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';

function IsValidInstant(): PropertyDecorator {
  return (target, property) =>
    registerDecorator({
      name: 'isValidInstant',
      target: target.constructor,
      propertyName: property as string,
      options: { message: `${String(property)} must be a valid date and time` },
      validator: { validate: (v: unknown) => typeof v === 'string' && !isNaN(Date.parse(v)) },
    });
}

function IsCidrList(): PropertyDecorator {
  return (target, property) =>
    registerDecorator({
      name: 'isCidrList',
      target: target.constructor,
      propertyName: property as string,
      options: {
        message: `${String(property)} must be a comma-separated list of CIDR networks (10.0.0.0/8, fd00::/8)`,
      },
      validator: { validate: (v: unknown) => typeof v === 'string' && parseCidrList(v) !== null },
    });
}

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;

/**
 * The service's whole environment contract. Every variable the service reads is declared here
 * (docker/docker-compose.yml is checked against this class by tests; docs/configuration.md documents
 * each variable).
 */
export class EnvironmentVariables {
  @IsOptional()
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

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

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' = 'info';

  /** Write logs to this file instead of stdout (tests scan it for leaked secrets). */
  @IsOptional()
  @IsString()
  LOG_FILE?: string;

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

  /** 32 random bytes, base64: encrypts broker credentials at rest (AES-256-GCM). */
  @Matches(/^[A-Za-z0-9+/]{43}=$/, {
    message: 'CROSSDOCK_ENCRYPTION_KEY must be 32 bytes, base64-encoded',
  })
  CROSSDOCK_ENCRYPTION_KEY!: string;

  /** Previous keys (comma-separated base64) still accepted for decryption during key rotation. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9+/]{43}=(,[A-Za-z0-9+/]{43}=)*$/, {
    message:
      'CROSSDOCK_ENCRYPTION_KEYS_PREVIOUS must be a comma-separated list of 32-byte base64 keys',
  })
  CROSSDOCK_ENCRYPTION_KEYS_PREVIOUS?: string;

  /** Keys the audit hash chain (HMAC-SHA256); lives outside the database by design. */
  @IsString()
  @MinLength(32, { message: 'CROSSDOCK_AUDIT_HMAC_KEY must be at least 32 characters' })
  @MaxLength(512)
  CROSSDOCK_AUDIT_HMAC_KEY!: string;

  /** How often a signed checkpoint of the audit head is written and logged (0 = never). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86400000)
  AUDIT_CHECKPOINT_INTERVAL_MS = 60000;

  /**
   * Append-only file that receives every signed audit checkpoint, outside the database;
   * `GET /audit/verify` reads its newest entry back and reports a deleted tail against it.
   */
  @IsOptional()
  @IsString()
  @Matches(/^\/[^\0]{0,4095}$/, { message: 'AUDIT_CHECKPOINT_FILE must be an absolute path' })
  AUDIT_CHECKPOINT_FILE?: string;

  /** `udp://host:port` of a syslog collector that also receives every signed checkpoint. */
  @IsOptional()
  @Matches(/^udp:\/\/([A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:]{2,45}\]):\d{1,5}$/, {
    message: 'AUDIT_CHECKPOINT_SYSLOG must be udp://host:port',
  })
  AUDIT_CHECKPOINT_SYSLOG?: string;

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

  /** Optional admin token accepted at start-up so the first real tokens can be created. */
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN must be at least 32 characters' })
  @MaxLength(256)
  CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN?: string;

  /** When set (ISO 8601), the bootstrap token stops working at this instant. */
  @IsOptional()
  @Matches(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/, {
    message: 'CROSSDOCK_BOOTSTRAP_EXPIRES_AT must be an ISO 8601 time with a zone',
  })
  @IsValidInstant()
  CROSSDOCK_BOOTSTRAP_EXPIRES_AT?: string;

  /**
   * `refuse` (default): the bootstrap token stops working as soon as a real admin token (not
   * revoked, not expired) exists; `allow` keeps it working alongside real admin tokens.
   */
  @IsOptional()
  @IsIn(['refuse', 'allow'])
  CROSSDOCK_BOOTSTRAP_AFTER_ADMIN: 'refuse' | 'allow' = 'refuse';

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

export class EnvironmentError extends Error {
  constructor(
    readonly variables: string[],
    readonly problems: string[],
  ) {
    super(`Invalid environment: ${problems.join('; ')}`);
    this.name = 'EnvironmentError';
  }
}

function describe(errors: ValidationError[]): string[] {
  // Messages name the variable and the rule, never the value (it may be a secret).
  return errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map((m) => `${e.property}: ${m}`),
  );
}

/** Every variable of the contract (from the validation metadata), for docs and the compose check. */
export function environmentKeys(): string[] {
  const metas = getMetadataStorage().getTargetValidationMetadatas(
    EnvironmentVariables,
    '',
    true,
    false,
  );
  return [...new Set(metas.map((m) => m.propertyName))].sort();
}

export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const picked: Record<string, unknown> = {};
  for (const key of environmentKeys()) {
    if (raw[key] !== undefined && raw[key] !== '') picked[key] = raw[key];
  }
  const env = plainToInstance(EnvironmentVariables, picked, { exposeDefaultValues: true });
  const errors = validateSync(env, { forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new EnvironmentError(
      errors.map((e) => e.property),
      describe(errors),
    );
  }
  if (!env.HTTPS_CERT_FILE !== !env.HTTPS_KEY_FILE) {
    throw new EnvironmentError(
      ['HTTPS_CERT_FILE', 'HTTPS_KEY_FILE'],
      ['HTTPS_CERT_FILE and HTTPS_KEY_FILE go together: set both for HTTPS, neither for HTTP'],
    );
  }
  return env;
}
