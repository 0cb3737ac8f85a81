import { Controller, Get, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { RequireRole } from '../common/access/access.decorators';
import type { Page } from '../common/http/pagination';
import { AuditExportQueryDto, AuditQueryDto, AuditVerifyQueryDto } from './audit.dto';
import { AuditQueryService, type AuditHead } from './audit-query.service';
import type { VerifyResult } from './audit-verifier';
import type { AuditEventView } from './audit.types';
import { ApiPage, ApiProblems, ApiTokenProblems } from '../common/openapi/api-responses';
import { AuditEventViewDto, AuditHeadDto, VerifyResultDto } from './audit.responses';

@ApiTags('audit')
@RequireRole('viewer')
@ApiTokenProblems()
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditQueryService) {}

  /** Events newest first; filters combine with AND. */
  @Get()
  @ApiOperation({
    summary: 'List audit events',
    description:
      'Every change to the registry and every broker write, newest first, one page at a time. Filters (resource, actor, action, time range, request id) combine with AND.',
  })
  @ApiPage(AuditEventViewDto)
  @ApiProblems(400)
  list(@Query() q: AuditQueryDto): Promise<Page<AuditEventView>> {
    return this.audit.list(q);
  }

  /** Streams a time range as NDJSON or CSV. */
  @Get('export')
  @ApiProduces('application/x-ndjson', 'text/csv')
  @ApiOperation({
    summary: 'Export audit events',
    description: 'Streams a time range as NDJSON (one event per line, as in the list) or CSV.',
  })
  @ApiOkResponse({
    description: 'The events, streamed',
    content: {
      'application/x-ndjson': { schema: { type: 'string' } },
      'text/csv': { schema: { type: 'string' } },
    },
  })
  @ApiProblems(400)
  async export(@Query() q: AuditExportQueryDto, @Res() res: Response): Promise<void> {
    await this.audit.export(q, res);
  }

  /** Walks the hash chain; names the first broken link or a truncated tail. */
  @Get('verify')
  @ApiOkResponse({
    type: VerifyResultDto,
    description: 'Verification result (ok false names what broke)',
  })
  @ApiOperation({
    summary: 'Verify the audit chain',
    description:
      'Walks the hash chain and its signed checkpoints (and an externally anchored head, when given); `ok: false` names the first broken link or a truncated tail. Also reports whether the database still protects the chain.',
  })
  @ApiProblems(400)
  verify(@Query() q: AuditVerifyQueryDto): Promise<VerifyResult> {
    return this.audit.verify(q);
  }

  /** The current head and the latest signed checkpoint, for external anchoring. */
  @Get('head')
  @ApiOperation({
    summary: 'Get the audit head',
    description: 'The newest event and the latest signed checkpoint, to anchor externally.',
  })
  @ApiOkResponse({ type: AuditHeadDto })
  head(): Promise<AuditHead> {
    return this.audit.head();
  }

  /** Writes a head checkpoint now (also done every minute). */
  @Post('checkpoints')
  @RequireRole('admin')
  @ApiOperation({
    summary: 'Write an audit checkpoint',
    description: 'Signs the current head now (also done every minute) and returns it.',
  })
  @ApiCreatedResponse({ type: AuditHeadDto, description: 'The head with the new checkpoint' })
  checkpoint(): Promise<AuditHead> {
    return this.audit.checkpoint();
  }

  @Get(':seq')
  @ApiOperation({
    summary: 'Get an audit event',
    description: 'One event by its sequence number, with its hash and the previous hash.',
  })
  @ApiOkResponse({ type: AuditEventViewDto })
  @ApiProblems(400, 404)
  get(@Param('seq') seq: string): Promise<AuditEventView> {
    return this.audit.get(seq);
  }
}
