import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { CryptoModule } from '../common/crypto/crypto.module';
import { AuditModule } from '../audit/audit.module';
import { ClustersModule } from '../clusters/clusters.module';
import { LinksModule } from '../links/links.module';
import { PoliciesModule } from '../policies/policies.module';
import { TopologyModule } from '../topology/topology.module';
import { DefinitionsController } from './definitions.controller';
import { DefinitionsService } from './definitions.service';

@Module({
  imports: [
    BrokerModule,
    ClustersModule,
    LinksModule,
    PoliciesModule,
    TopologyModule,
    AuditModule,
    CryptoModule,
  ],
  controllers: [DefinitionsController],
  providers: [DefinitionsService],
})
export class DefinitionsModule {}
