import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { FederationLinksService } from './federation-links.service';
import { FederationLinksController, ShovelsController } from './links.controller';
import { ShovelsService } from './shovels.service';

@Module({
  imports: [AuditModule],
  controllers: [FederationLinksController, ShovelsController],
  providers: [FederationLinksService, ShovelsService],
  exports: [FederationLinksService, ShovelsService],
})
export class LinksModule {}
