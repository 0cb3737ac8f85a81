import { Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditQueryService } from './audit-query.service';
import { AuditService } from './audit.service';

@Module({
  providers: [AuditService, AuditQueryService],
  controllers: [AuditController],
  exports: [AuditService],
})
export class AuditModule {}
