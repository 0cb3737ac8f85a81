import { Controller, Get, Param, Post, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RequireRole } from '../common/access/access.decorators';
import type { Page } from '../common/http/pagination';
import { AuditExportQueryDto, AuditQueryDto, AuditVerifyQueryDto } from './audit.dto';
import { AuditQueryService, type AuditHead } from './audit-query.service';
import type { VerifyResult } from './audit-verifier';
import type { AuditEventView } from './audit.types';

@ApiTags('audit')
@RequireRole('viewer')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditQueryService) {}

  /** Events newest first; filters combine with AND. */
  @Get()
  list(@Query() q: AuditQueryDto): Promise<Page<AuditEventView>> {
    return this.audit.list(q);
  }

  /** Streams a time range as NDJSON or CSV. */
  @Get('export')
  @ApiProduces('application/x-ndjson', 'text/csv')
  async export(@Query() q: AuditExportQueryDto, @Res() res: Response): Promise<void> {
    await this.audit.export(q, res);
  }

  /** Walks the hash chain; names the first broken link or a truncated tail. */
  @Get('verify')
  @ApiOkResponse({ description: 'Verification result (ok false names what broke)' })
  verify(@Query() q: AuditVerifyQueryDto): Promise<VerifyResult> {
    return this.audit.verify(q);
  }

  /** The current head and the latest signed checkpoint, for external anchoring. */
  @Get('head')
  head(): Promise<AuditHead> {
    return this.audit.head();
  }

  /** Writes a head checkpoint now (also done every minute). */
  @Post('checkpoints')
  @RequireRole('admin')
  checkpoint(): Promise<AuditHead> {
    return this.audit.checkpoint();
  }

  @Get(':seq')
  get(@Param('seq') seq: string): Promise<AuditEventView> {
    return this.audit.get(seq);
  }
}
