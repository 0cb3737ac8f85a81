import { Module } from '@nestjs/common';
import { CryptoModule } from '../common/crypto/crypto.module';
import { AuditModule } from '../audit/audit.module';
import { ClustersModule } from '../clusters/clusters.module';
import { LinksModule } from '../links/links.module';
import { MetricsModule } from '../metrics/metrics.module';
import { ProbesModule } from '../probes/probes.module';
import { OverflowController } from './overflow.controller';
import { OverflowEngineService } from './overflow-engine.service';
import { OverflowRulesService } from './overflow-rules.service';

@Module({
  imports: [ClustersModule, AuditModule, MetricsModule, ProbesModule, CryptoModule, LinksModule],
  controllers: [OverflowController],
  providers: [OverflowRulesService, OverflowEngineService],
})
export class OverflowModule {}
