import { Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { IsValidInstant, toInt } from './environment-validators';
import { DatabaseEnvironment } from './database.environment';

/**
 * Secrets and trust: the credential encryption keys, the audit chain and its checkpoints, the
 * bootstrap admin token.
 */
export class SecurityEnvironment extends DatabaseEnvironment {
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
}
