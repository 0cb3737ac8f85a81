import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import {
  linkFailureCodes,
  type LinkCause,
  type LinkFailureCode,
  type LinkFailureObject,
} from '../broker-topology/link-failure';
import { ClusterVhostDto, FederationSettingsDto, ShovelSettingsDto } from './links.dto';
import type { FederationLinkView } from './federation-link.view';
import type { ShovelView } from './shovels.service';

/** Response schemas of /links/*: each implements the view the service returns, so they cannot drift apart. */

export class FederationUpstreamView extends ClusterVhostDto {
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Exchange links: the upstream exchange when not named like the downstream one',
  })
  exchange!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Queue links: the upstream queue when not named like the downstream one',
  })
  queue!: string | null;
}

@ApiSchema({ name: 'FederationLinkView' })
export class FederationLinkViewDto implements FederationLinkView {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'orders-dc1-to-dc2' }) name!: string;
  @ApiProperty({ enum: ['exchange', 'queue'] }) kind!: 'exchange' | 'queue';
  @ApiProperty({ type: ClusterVhostDto, description: 'Where the federated copies land' })
  downstream!: ClusterVhostDto;
  @ApiProperty({
    type: FederationUpstreamView,
    description: 'Where the messages come from, and the upstream exchange or queue when renamed',
  })
  upstream!: FederationUpstreamView;
  @ApiProperty({ type: [String], description: 'Exchanges or queues federated by name' })
  targets!: string[];
  @ApiProperty({ type: String, nullable: true, description: 'Federated by name prefix instead' })
  targetPrefix!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The upstream parameter name on the broker when the link was adopted',
  })
  brokerUpstreamName!: string | null;
  @ApiProperty({ type: FederationSettingsDto }) settings!: FederationSettingsDto;
  @ApiProperty() paused!: boolean;
  @ApiProperty({ enum: ['delete', 'retain'] }) deletionPolicy!: 'delete' | 'retain';
  @ApiProperty({ description: 'Bumped by every change of the link' }) generation!: number;
  @ApiProperty({ description: 'The generation the reconciler last applied' })
  appliedGeneration!: number;
  @ApiProperty({ description: 'Row version; the ETag is "v<version>"' }) version!: number;
  @ApiProperty({ type: [String] }) warnings!: string[];
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class ShovelEndpointView extends ClusterVhostDto {
  @ApiProperty({ type: String, nullable: true }) queue!: string | null;
  @ApiProperty({ type: String, nullable: true }) exchange!: string | null;
  @ApiProperty({ type: String, nullable: true }) exchangeKey!: string | null;
}

export class ShovelCompletionView {
  @ApiProperty({ description: 'Why the broker removed it, in its terms' }) reason!: string;
  @ApiProperty({ type: Number, nullable: true, description: 'Messages moved, when known' })
  moved!: number | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The reconcile run that found it gone',
  })
  runId!: string | null;
}

@ApiSchema({ name: 'ShovelView' })
export class ShovelViewDto implements ShovelView {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'orders-drain' }) name!: string;
  @ApiProperty({ type: ShovelEndpointView }) source!: ShovelEndpointView;
  @ApiProperty({ type: ShovelEndpointView }) destination!: ShovelEndpointView;
  @ApiProperty({ type: ShovelSettingsDto }) settings!: ShovelSettingsDto;
  @ApiProperty() paused!: boolean;
  @ApiProperty({ enum: ['delete', 'retain'] }) deletionPolicy!: 'delete' | 'retain';
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'A one-shot shovel the broker removed once done: when',
  })
  completedAt!: string | null;
  @ApiProperty({ type: ShovelCompletionView, nullable: true })
  completion!: ShovelCompletionView | null;
  @ApiPropertyOptional({
    type: [String],
    description:
      'Create and change only: what the preflight found missing on either end (objects, link-user permissions), naming the object and the cluster',
  })
  warnings?: string[];
  @ApiProperty() generation!: number;
  @ApiProperty() appliedGeneration!: number;
  @ApiProperty({ description: 'Row version; the ETag is "v<version>"' }) version!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class LinkFailureObjectView implements LinkFailureObject {
  @ApiProperty({ enum: ['queue', 'exchange', 'vhost', 'topic'] })
  kind!: LinkFailureObject['kind'];
  @ApiProperty({ example: 'orders' }) name!: string;
  @ApiPropertyOptional({ example: '/' }) vhost?: string;
}

@ApiSchema({ name: 'LinkCause' })
export class LinkCauseView implements LinkCause {
  @ApiProperty({
    enum: linkFailureCodes,
    description:
      'The classified cause: `access-refused` (object, user, and the permission when the broker names it), `not-found`, `authentication-failed`, `connection-refused`, `connection-reset`, `timeout`, `host-unreachable`, `tls-failure`, `precondition-failed`, `resource-alarm`, `restarting` (a 3.10 shovel that says only "needed a restart"), `other`',
  })
  code!: LinkFailureCode;
  @ApiProperty({
    example:
      'access refused: user "crossdock-link" may not use queue "orders" in vhost "/" (the broker does not say which permission: declaring needs configure, publishing write, consuming read)',
  })
  detail!: string;
  @ApiProperty({
    enum: ['broker-status', 'node-alarm', 'preflight'],
    description:
      "Where it was read: the broker's link status, a node's resource alarm, or crossdock's own check with the link user's credentials",
  })
  source!: LinkCause['source'];
  @ApiPropertyOptional({ type: LinkFailureObjectView }) object?: LinkFailureObjectView;
  @ApiPropertyOptional({ enum: ['configure', 'write', 'read'] })
  permission?: LinkCause['permission'];
  @ApiPropertyOptional({ description: 'The user the broker refused' }) user?: string;
  @ApiPropertyOptional({ description: 'TLS: the peer certificate was not verified' })
  certificateVerification?: boolean;
  @ApiPropertyOptional({ description: 'The broker link it was read from' }) link?: string;
  @ApiPropertyOptional({ description: 'The cluster it is on (alarms, preflight)' })
  cluster?: string;
}

export class BrokerLinkStatusView {
  @ApiPropertyOptional() node?: string;
  @ApiProperty({ description: 'The broker object (upstream or shovel name)' }) object!: string;
  @ApiProperty({ example: 'running' }) status!: string;
  @ApiPropertyOptional() error?: string;
  @ApiPropertyOptional() timestamp?: string;
  @ApiPropertyOptional({
    type: LinkCauseView,
    description: "The broker's error text classified (a broker link that does not run)",
  })
  cause?: LinkCauseView;
}
