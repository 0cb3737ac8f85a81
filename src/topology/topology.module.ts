import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { BrokerModule } from '../broker/broker.module';
import { ClustersModule } from '../clusters/clusters.module';
import { BindingsController, ExchangesController, QueuesController } from './topology.controller';
import { TopologyService } from './topology.service';

@Module({
  imports: [AuditModule, BrokerModule, ClustersModule],
  controllers: [ExchangesController, QueuesController, BindingsController],
  providers: [TopologyService],
  exports: [TopologyService],
})
export class TopologyModule {}
