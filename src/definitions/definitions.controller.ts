import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentActor, RequireRole } from '../common/access/access.decorators';
import { SkipWriteQueue } from '../common/limits/write-admission.interceptor';
import { roleAllows, type Actor } from '../common/actor/actor';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import type { DefinitionsFile } from './definitions-file';
import { ExportQueryDto, ImportRequestDto } from './definitions.dto';
import { DefinitionsService, type ImportResult } from './definitions.service';
import { ApiBodyProblems, ApiProblems, ApiTokenProblems } from '../common/openapi/api-responses';
import { DefinitionsFileDto, ImportResultDto } from './definitions.responses';

@ApiTags('definitions')
@ApiTokenProblems()
@Controller('clusters/:id')
export class DefinitionsController {
  constructor(private readonly definitions: DefinitionsService) {}

  /**
   * The cluster's desired state as a RabbitMQ definitions file (`POST /api/definitions` of a
   * 3.10 broker loads it). URIs carry a placeholder instead of the link user's password unless
   * an admin asks for `credentials=include` (audited).
   */
  @Get('definitions')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Export the definitions of a cluster',
    description:
      "The cluster's desired state as a RabbitMQ definitions file (a 3.10 broker's POST /api/definitions loads it). URIs carry a placeholder instead of the link user's password unless an admin asks for `credentials=include` (audited; 403 for other roles).",
  })
  @ApiOkResponse({ type: DefinitionsFileDto })
  @ApiProblems(400, 403, 404)
  async export(
    @Param('id', ParseUUIDPipe) id: string,
    @Query() q: ExportQueryDto,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) res: Response,
  ): Promise<DefinitionsFile> {
    const include = q.credentials === 'include';
    if (include && !(actor.kind === 'token' && roleAllows(actor.role, 'admin')))
      throw new DomainException(
        ErrorCode.Forbidden,
        403,
        'Forbidden',
        'credentials=include needs the admin role',
      );
    const file = await this.definitions.export(id, include);
    res.setHeader('X-Crossdock-Credentials', include ? 'included' : 'placeholder');
    res.setHeader('Cache-Control', 'no-store');
    return file;
  }

  /**
   * Adopts the cluster's own upstreams, upstream sets, policies and shovels as crossdock
   * resources. `dryRun` (the default) returns the preview and writes nothing.
   */
  @Post('import')
  @HttpCode(200)
  @RequireRole('operator')
  @SkipWriteQueue()
  @ApiOperation({
    summary: 'Import the definitions of a cluster',
    description:
      "Adopts the cluster's own federation upstreams, upstream sets, policies and shovels as crossdock resources. `dryRun` (the default) returns the preview and writes nothing; conflicts with registered resources are listed, not overwritten.",
  })
  @ApiOkResponse({ type: ImportResultDto })
  @ApiBodyProblems()
  @ApiProblems(
    404,
    ErrorCode.Conflict,
    ErrorCode.CredentialsRebindRequired,
    502,
    ErrorCode.BrokerUnavailable,
  )
  import(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: ImportRequestDto,
  ): Promise<ImportResult> {
    return this.definitions.import(id, dto.dryRun ?? true, dto.vhosts, dto.topology ?? false);
  }
}
