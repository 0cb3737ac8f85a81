import { Module } from '@nestjs/common';
import { CryptoModule } from '../common/crypto/crypto.module';
import { MetricsModule } from '../metrics/metrics.module';
import { AuditModule } from '../audit/audit.module';
import { ClustersModule } from '../clusters/clusters.module';
import { BrokerModule } from '../broker/broker.module';
import { clockProvider } from '../common/clock/clock';
import { ClusterBrokers } from './cluster-broker';
import { ProbesModule } from '../probes/probes.module';
import { LinkRestartController } from './link-restart.controller';
import { LinkRestartService } from './link-restart.service';
import { LinkStatusExplainer } from './link-status-explainer';
import { LinkStatusService } from './link-status.service';
import { LinksModule } from '../links/links.module';
import { ReconcileMetrics } from './reconcile-metrics';
import { ReconcileClustersRepository } from './reconcile-clusters.repository';
import { ReconcileLinksRepository } from './reconcile-links.repository';
import { ReconcileMetricsRepository } from './reconcile-metrics.repository';
import { ReconcileRunsRepository } from './reconcile-runs.repository';
import { ReconcileTriggerMetrics } from './reconcile-trigger-metrics';
import { ReconcileTriggersService } from './reconcile-triggers.service';
import { ReconcilerService } from './reconciler.service';
import { ReconciliationController } from './reconciliation.controller';

@Module({
  imports: [
    ClustersModule,
    AuditModule,
    MetricsModule,
    CryptoModule,
    BrokerModule,
    ProbesModule,
    LinksModule,
  ],
  controllers: [ReconciliationController, LinkRestartController],
  providers: [
    ReconcilerService,
    ReconcileTriggersService,
    ReconcileTriggerMetrics,
    ReconcileMetrics,
    ReconcileMetricsRepository,
    ReconcileRunsRepository,
    ReconcileClustersRepository,
    ReconcileLinksRepository,
    LinkStatusService,
    LinkStatusExplainer,
    LinkRestartService,
    ClusterBrokers,
    clockProvider,
  ],
  exports: [ReconcilerService],
})
export class ReconciliationModule {}
