import { Module } from '@nestjs/common';
import { CryptoModule } from '../common/crypto/crypto.module';
import { AuditModule } from '../audit/audit.module';
import { ClustersController } from './clusters.controller';
import { ClustersService } from './clusters.service';
import { LinkUsersService } from './link-users.service';
import { NodeChangeHooks } from './node-change-hooks';
import { NodesService } from './nodes.service';

@Module({
  imports: [AuditModule, CryptoModule],
  controllers: [ClustersController],
  providers: [ClustersService, NodesService, LinkUsersService, NodeChangeHooks],
  exports: [ClustersService, NodeChangeHooks],
})
export class ClustersModule {}
