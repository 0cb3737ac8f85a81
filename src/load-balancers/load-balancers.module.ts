import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ClustersModule } from '../clusters/clusters.module';
import { LoadBalancersController } from './load-balancers.controller';
import { LoadBalancersService } from './load-balancers.service';

@Module({
  imports: [ClustersModule, AuditModule],
  controllers: [LoadBalancersController],
  providers: [LoadBalancersService],
  exports: [LoadBalancersService],
})
export class LoadBalancersModule {}
