import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import type { BrokerErrorKind } from '../broker/management.types';
import type { StoredObservation } from './observation.service';
import type { CertificateReading } from '../broker/tls-certificates';
import type {
  Difference,
  DifferenceKind,
  NodeReachability,
  NodeType,
  ObservedNode,
} from './observation.types';

const differenceKinds: DifferenceKind[] = [
  'cluster-unreachable',
  'observation-incomplete',
  'cluster-name-mismatch',
  'node-not-member',
  'undeclared-member',
  'node-not-running',
  'node-type-mismatch',
  'node-management-unreachable',
  'management-endpoint-mismatch',
  'network-partition',
  'memory-alarm',
  'disk-alarm',
  'resource-alarm',
  'plugin-missing',
  'partition-handling-mismatch',
];

export class NodeErrorView {
  @ApiProperty({
    enum: [
      'unreachable',
      'timeout',
      'auth',
      'not-found',
      'rejected',
      'server',
      'protocol',
      'unconfigured',
    ],
  })
  kind!: BrokerErrorKind | 'unconfigured';
  @ApiProperty() message!: string;
}

export class NodeReachabilityView implements NodeReachability {
  @ApiProperty({ example: 'rabbit@dc1-a' }) name!: string;
  @ApiProperty({ description: "The node's management endpoint gave an HTTP answer" })
  managementReachable!: boolean;
  @ApiPropertyOptional({ description: 'The node that actually answered on this endpoint' })
  answeredAs?: string;
  @ApiPropertyOptional({ type: NodeErrorView }) error?: NodeErrorView;
  @ApiProperty() latencyMs!: number;
}

export class ObservedNodeView implements ObservedNode {
  @ApiProperty({ example: 'rabbit@dc1-a' }) name!: string;
  @ApiProperty() running!: boolean;
  @ApiProperty({ enum: ['disc', 'ram'], nullable: true, type: String }) type!: NodeType | null;
  @ApiProperty({ type: [String], description: 'Nodes this one is partitioned from' })
  partitions!: string[];
  @ApiProperty() memAlarm!: boolean;
  @ApiProperty() diskAlarm!: boolean;
  @ApiProperty({ type: [String], nullable: true }) enabledPlugins!: string[] | null;
}

export class PluginsMissingView {
  @ApiProperty() node!: string;
  @ApiProperty({ type: [String] }) plugins!: string[];
}

export class AlarmView {
  @ApiProperty() node!: string;
  @ApiProperty({ example: 'memory' }) resource!: string;
}

export class UnknownPartView {
  @ApiProperty({ example: '/api/nodes' }) endpoint!: string;
  @ApiProperty() reason!: string;
}

export class DifferenceView implements Difference {
  @ApiProperty({ enum: differenceKinds }) kind!: DifferenceKind;
  @ApiProperty() detail!: string;
  @ApiPropertyOptional() node?: string;
}

export class CertificateReadingView implements CertificateReading {
  @ApiProperty({ example: 'management 10.0.0.5:15671' }) endpoint!: string;
  @ApiProperty({ type: String, nullable: true }) subject!: string | null;
  @ApiProperty({ type: String, nullable: true }) issuer!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) notAfter!: string | null;
  @ApiProperty({ type: Number, nullable: true }) daysToExpiry!: number | null;
  @ApiProperty({
    description: "The chain verifies against the cluster's CA bundle and server name",
  })
  verified!: boolean;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why it does not verify, or why nothing was read',
  })
  error!: string | null;
}

@ApiSchema({ name: 'ClusterObservation' })
export class ClusterObservationDto implements StoredObservation {
  @ApiProperty({ format: 'uuid' }) clusterId!: string;
  @ApiProperty({ description: 'Some management node gave an HTTP answer' }) reachable!: boolean;
  @ApiProperty({ type: [NodeReachabilityView] }) perNode!: NodeReachabilityView[];
  @ApiProperty({ type: String, nullable: true, example: '3.13.7' }) rabbitmqVersion!: string | null;
  @ApiProperty({ type: String, nullable: true }) erlangVersion!: string | null;
  @ApiProperty({ type: String, nullable: true }) clusterName!: string | null;
  @ApiProperty({ type: [ObservedNodeView], nullable: true, description: 'null: unknown' })
  nodes!: ObservedNodeView[] | null;
  @ApiProperty({ type: [PluginsMissingView] }) pluginsMissing!: PluginsMissingView[];
  @ApiProperty({ type: [AlarmView], nullable: true, description: 'null: unknown' })
  alarms!: AlarmView[] | null;
  @ApiProperty({ type: [UnknownPartView], description: 'Endpoints whose answer was unusable' })
  unknown!: UnknownPartView[];
  @ApiProperty({ format: 'date-time' }) observedAt!: string;
  @ApiProperty({ type: [DifferenceView], description: 'Declared vs observed' })
  differences!: DifferenceView[];
  @ApiProperty({
    type: [String],
    description: 'Other registered clusters that declare the broker cluster name observed here',
  })
  clusterNameAlsoRegisteredBy!: string[];
  @ApiProperty({
    type: [CertificateReadingView],
    description: 'Certificates presented by the TLS endpoints of a cluster configured for TLS',
  })
  tlsCertificates!: CertificateReadingView[];
}
