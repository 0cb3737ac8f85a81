import { Module } from '@nestjs/common';
import { CryptoModule } from '../common/crypto/crypto.module';
import { AuditModule } from '../audit/audit.module';
import { MetricsModule } from '../metrics/metrics.module';
import { ClustersController } from './clusters.controller';
import { ClusterAccessService } from './cluster-access.service';
import { ClustersService } from './clusters.service';
import { CertificateWatch } from './certificate-watch';
import { LinkUsersService } from './link-users.service';
import { NodeChangeHooks } from './node-change-hooks';
import { NodesService } from './nodes.service';

@Module({
  imports: [AuditModule, CryptoModule, MetricsModule],
  controllers: [ClustersController],
  providers: [
    ClusterAccessService,
    ClustersService,
    NodesService,
    LinkUsersService,
    NodeChangeHooks,
    CertificateWatch,
  ],
  exports: [ClustersService, NodeChangeHooks, CertificateWatch],
})
export class ClustersModule {}
