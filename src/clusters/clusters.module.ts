import { Module } from '@nestjs/common';
import { LoadBalancersModule } from '../load-balancers/load-balancers.module';
import { ClustersController } from './clusters.controller';
import { ClustersService } from './clusters.service';
import { CertificateWatch } from './certificate-watch';
import { LinkUsersService } from './link-users.service';
import { NodesService } from './nodes.service';

@Module({
  imports: [LoadBalancersModule],
  controllers: [ClustersController],
  providers: [ClustersService, NodesService, LinkUsersService, CertificateWatch],
  exports: [ClustersService, CertificateWatch],
})
export class ClustersModule {}
