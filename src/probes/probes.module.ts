import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ClustersModule } from '../clusters/clusters.module';
import { BrokerModule } from '../broker/broker.module';
import { clockProvider } from '../common/clock/clock';
import { MetricsModule } from '../metrics/metrics.module';
import { HealthRecorder } from './health-recorder';
import { HealthService } from './health.service';
import { LinkPreflight } from './link-preflight';
import { ProbeMetrics } from './probe-metrics';
import { ProbeService } from './probe.service';
import { ProbesController } from './probes.controller';

@Module({
  imports: [ClustersModule, AuditModule, MetricsModule, BrokerModule],
  controllers: [ProbesController],
  providers: [
    ProbeService,
    HealthRecorder,
    HealthService,
    ProbeMetrics,
    LinkPreflight,
    clockProvider,
  ],
  exports: [ProbeService, HealthService, LinkPreflight],
})
export class ProbesModule {}
