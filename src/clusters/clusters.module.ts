import { Module } from '@nestjs/common';
import { ClustersController } from './clusters.controller';
import { ClustersService } from './clusters.service';
import { LinkUsersService } from './link-users.service';
import { NodeChangeHooks } from './node-change-hooks';
import { NodesService } from './nodes.service';

@Module({
  controllers: [ClustersController],
  providers: [ClustersService, NodesService, LinkUsersService, NodeChangeHooks],
  exports: [ClustersService, NodeChangeHooks],
})
export class ClustersModule {}
