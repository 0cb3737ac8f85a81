import { BrokerModule } from '../broker/broker.module';
import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ClustersModule } from '../clusters/clusters.module';
import { FederationLinksService } from './federation-links.service';
import { FederationLinksController, ShovelsController } from './links.controller';
import { ShovelsService } from './shovels.service';
import { LinkPreflightService } from './link-preflight.service';

@Module({
  imports: [AuditModule, ClustersModule, BrokerModule],
  controllers: [FederationLinksController, ShovelsController],
  providers: [FederationLinksService, ShovelsService, LinkPreflightService],
  exports: [FederationLinksService, ShovelsService, LinkPreflightService],
})
export class LinksModule {}
