import { plainToInstance } from 'class-transformer';
import {
  getMetadataStorage,
  IsIn,
  IsOptional,
  IsString,
  validateSync,
  ValidationError,
} from 'class-validator';
import { HttpEnvironment } from './http.environment';

/**
 * The service's whole environment contract. Every variable the service reads is declared here or
 * in one of the parts this class extends, one per concern: http, background (reconcile, overflow,
 * probes), broker, security and database (`*.environment.ts`). The parts extend each other only
 * so that they add up to this one class; class-validator and class-transformer read inherited
 * declarations. docker/docker-compose.yml is checked against this class by tests;
 * docs/configuration.md documents each variable.
 */
export class EnvironmentVariables extends HttpEnvironment {
  @IsOptional()
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' = 'info';

  /** Write logs to this file instead of stdout (tests scan it for leaked secrets). */
  @IsOptional()
  @IsString()
  LOG_FILE?: string;
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
