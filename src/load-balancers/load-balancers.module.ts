import { Module } from '@nestjs/common';
import { ClustersModule } from '../clusters/clusters.module';
import { LoadBalancersController } from './load-balancers.controller';
import { LoadBalancersService } from './load-balancers.service';

@Module({
  imports: [ClustersModule],
  controllers: [LoadBalancersController],
  providers: [LoadBalancersService],
  exports: [LoadBalancersService],
})
export class LoadBalancersModule {}
