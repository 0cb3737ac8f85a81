import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { ClustersModule } from '../clusters/clusters.module';
import { ObservationController } from './observation.controller';
import { ObservationService } from './observation.service';

@Module({
  imports: [BrokerModule, ClustersModule],
  controllers: [ObservationController],
  providers: [ObservationService],
  exports: [ObservationService],
})
export class ObservationModule {}
