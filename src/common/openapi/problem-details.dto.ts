import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { ErrorCode, problemTypeBase } from '../errors/error-codes';

@ApiSchema({ name: 'FieldError' })
export class FieldErrorDto {
  @ApiProperty({ example: 'expectedRttMs', description: 'Dotted path of the offending field' })
  field!: string;

  @ApiProperty({ example: 'expectedRttMs must be an integer number' })
  message!: string;
}

/** RFC 9457 problem details, as ProblemDetailsFilter writes them. */
@ApiSchema({
  name: 'ProblemDetails',
  description:
    'RFC 9457 problem details (`application/problem+json`), the body of every error response; `code` is the stable error code.',
})
export class ProblemDetailsDto {
  @ApiProperty({
    description: `Problem type URI: \`${problemTypeBase}<code>\``,
    example: `${problemTypeBase}${ErrorCode.NotFound}`,
  })
  type!: string;

  @ApiProperty({ example: 'Resource not found' })
  title!: string;

  @ApiProperty({ example: 404, description: 'The HTTP status, repeated' })
  status!: number;

  @ApiPropertyOptional({ example: 'site 0b7c3c1e-3f8e-4c52-9a4e-2d1f6c0e8a11 does not exist' })
  detail?: string;

  @ApiPropertyOptional({ example: '/sites/0b7c3c1e-3f8e-4c52-9a4e-2d1f6c0e8a11' })
  instance?: string;

  @ApiProperty({
    enum: ErrorCode,
    enumName: 'ErrorCode',
    description: 'Stable machine-readable error code; branch on this, not on `title`',
  })
  code!: ErrorCode;

  @ApiPropertyOptional({
    type: [FieldErrorDto],
    description: 'One entry per offending field (validation and reference errors)',
  })
  errors?: FieldErrorDto[];

  @ApiPropertyOptional({
    example: 'req-6f1d2a',
    description: 'The request id (also in the X-Request-Id response header and the logs)',
  })
  requestId?: string;

  @ApiPropertyOptional({ description: "The caller's own X-Request-Id, when it sent one" })
  clientRequestId?: string;

  @ApiPropertyOptional({
    example: 1,
    description: '429 only: seconds to wait before retrying (also the Retry-After header)',
  })
  retryAfter?: number;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'object', additionalProperties: true },
    description: 'policy-conflict only: the policies that overlap',
  })
  conflicts?: unknown[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'confirmation-required only: what the change would touch',
  })
  blastRadius?: Record<string, unknown>;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'broker-unavailable only: the management call and the nodes tried',
  })
  broker?: Record<string, unknown>;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Readiness only: the verdict per dependency',
  })
  checks?: Record<string, unknown>;
}
