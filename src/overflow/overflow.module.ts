import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { clockProvider } from '../common/clock/clock';
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
  imports: [
    ClustersModule,
    AuditModule,
    MetricsModule,
    ProbesModule,
    CryptoModule,
    LinksModule,
    BrokerModule,
  ],
  controllers: [OverflowController],
  providers: [OverflowRulesService, OverflowEngineService, clockProvider],
})
export class OverflowModule {}
