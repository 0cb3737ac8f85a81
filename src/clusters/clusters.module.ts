import { Module } from '@nestjs/common';
import { ClustersController } from './clusters.controller';
import { ClustersService } from './clusters.service';
import { LinkUsersService } from './link-users.service';
import { NodesService } from './nodes.service';

@Module({
  controllers: [ClustersController],
  providers: [ClustersService, NodesService, LinkUsersService],
  exports: [ClustersService],
})
export class ClustersModule {}
