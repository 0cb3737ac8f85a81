import { Module } from '@nestjs/common';
import { ClustersModule } from '../clusters/clusters.module';
import { LinkStatusService } from './link-status.service';
import { ReconcileTriggersService } from './reconcile-triggers.service';
import { ReconcilerService } from './reconciler.service';
import { ReconciliationController } from './reconciliation.controller';

@Module({
  imports: [ClustersModule],
  controllers: [ReconciliationController],
  providers: [ReconcilerService, ReconcileTriggersService, LinkStatusService],
  exports: [ReconcilerService],
})
export class ReconciliationModule {}
