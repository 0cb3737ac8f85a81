import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { Public } from '../common/http/public.decorator';
import { ErrorCode } from '../common/errors/error-codes';
import { ApiProblems } from '../common/openapi/api-responses';

@ApiTags('health')
@Public()
// The per-address rate limit covers every route, these too.
@ApiProblems(429)
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
  ) {}

  /** The process is up and serving HTTP; no dependency is consulted. */
  @Get('live')
  @ApiOperation({
    summary: 'Liveness',
    description: 'The process is up and serving HTTP; no dependency is consulted. No token needed.',
  })
  @ApiOkResponse({
    description: 'Alive',
    schema: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['ok'] } },
    },
  })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready to serve: the database answers within a second. */
  @Get('ready')
  @ApiOperation({
    summary: 'Readiness',
    description:
      'Ready to serve: the database answers within a second. 503 (problem+json with the per-dependency `checks`) otherwise. No token needed.',
  })
  @ApiProblems(ErrorCode.ServiceUnavailable)
  @ApiOkResponse({
    description: 'Ready: every dependency is up',
    schema: {
      type: 'object',
      required: ['status', 'details'],
      properties: {
        status: { type: 'string', enum: ['ok'] },
        info: { type: 'object', additionalProperties: true },
        error: { type: 'object', additionalProperties: true },
        details: {
          type: 'object',
          additionalProperties: true,
          example: { database: { status: 'up' } },
        },
      },
    },
  })
  // The default documentation says a 503 is JSON; the problem+json filter answers it.
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  ready() {
    return this.health.check([() => this.db.pingCheck('database', { timeout: 1000 })]);
  }
}
