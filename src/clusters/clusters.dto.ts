import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  Allow,
  IsDefined,
  IsObject,
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsString,
  IsUUID,
  Matches,
  ValidateIf,
  MaxLength,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { NamedPageQueryDto } from '../common/http/pagination';
import { Optional, EndpointDto, IsDnsLabel, printablePattern } from '../common/dto/validators';
import type { ReplicationRule } from './replication';
import { CredentialsDto, RebindCredentials } from './cluster-credentials.dto';
import { ClusterTlsDto, ClusterTlsView } from './cluster-tls.dto';
import { NodeDto, NodeView } from './nodes.dto';

export class ReplicationRuleDto {
  @ApiProperty({ example: '^orders\\.', description: 'Queue name pattern (portable PCRE subset)' })
  @IsString()
  @MaxLength(255)
  pattern!: string;

  @ApiProperty({ enum: ['classic', 'quorum'] })
  @IsIn(['classic', 'quorum'])
  mode!: 'classic' | 'quorum';

  @ApiPropertyOptional({ enum: ['all', 'exactly', 'nodes'] })
  @Optional()
  @IsIn(['all', 'exactly', 'nodes'])
  haMode?: 'all' | 'exactly' | 'nodes';

  @ApiPropertyOptional({ description: 'exactly: integer count; nodes: list of node names' })
  @Allow()
  haParams?: number | string[];

  @ApiPropertyOptional({ enum: ['manual', 'automatic'] })
  @Optional()
  @IsIn(['manual', 'automatic'])
  haSyncMode?: 'manual' | 'automatic';

  @ApiPropertyOptional({ description: 'quorum: replica count (x-quorum-initial-group-size)' })
  @Optional()
  @IsInt()
  replicas?: number;
}

export class CreateClusterDto {
  @ApiProperty()
  @IsUUID()
  siteId!: string;

  @ApiProperty({ example: 'main' })
  @IsDnsLabel()
  name!: string;

  @ApiProperty({
    example: 'crossdock-dc1',
    description: 'Cluster name the broker must carry; unique across sites',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @Matches(/^[A-Za-z0-9_.@-]+$/, {
    message: 'brokerClusterName may use letters, digits and _ . @ -',
  })
  brokerClusterName!: string;

  @ApiPropertyOptional({ enum: ['http', 'https'], default: 'http' })
  @Optional()
  @IsIn(['http', 'https'])
  managementScheme?: 'http' | 'https';

  @ApiProperty({
    type: [EndpointDto],
    description: 'Addresses other sites use to reach this cluster (AMQP)',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(16)
  @ValidateNested({ each: true })
  @Type(() => EndpointDto)
  linkEndpoints!: EndpointDto[];

  @ApiPropertyOptional({ type: [String], default: ['/'], description: 'Vhosts crossdock manages' })
  @Optional()
  @IsArray()
  @ArrayMaxSize(100)
  @ArrayUnique()
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(255, { each: true })
  @Matches(printablePattern, { each: true, message: 'vhost names must be printable' })
  vhosts?: string[];

  @ApiProperty({ type: CredentialsDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => CredentialsDto)
  credentials!: CredentialsDto;

  @ApiPropertyOptional({ type: [ReplicationRuleDto] })
  @Optional()
  @IsArray()
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => ReplicationRuleDto)
  replication?: ReplicationRuleDto[];

  @ApiPropertyOptional({
    enum: ['pause_minority', 'autoheal', 'ignore'],
    default: 'pause_minority',
  })
  @Optional()
  @IsIn(['pause_minority', 'autoheal', 'ignore'])
  partitionHandling?: 'pause_minority' | 'autoheal' | 'ignore';

  @ApiPropertyOptional({
    type: ClusterTlsDto,
    nullable: true,
    description:
      'TLS settings. When set, crossdock reaches the cluster only over https (managementScheme must be https) and AMQPS (node amqpPort and linkEndpoints are TLS listeners), and links to it use amqps://. null removes them.',
  })
  @ValidateIf((_o, v) => v !== undefined && v !== null)
  @IsObject()
  @ValidateNested()
  @Type(() => ClusterTlsDto)
  tls?: ClusterTlsDto | null;

  @ApiProperty({ type: [NodeDto] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(32)
  @ValidateNested({ each: true })
  @Type(() => NodeDto)
  nodes!: NodeDto[];
}

export class UpdateClusterDto extends PartialType(
  OmitType(CreateClusterDto, ['siteId', 'credentials', 'nodes'] as const),
  { skipNullProperties: false },
) {
  @RebindCredentials()
  credentials?: CredentialsDto;
}

export class DeleteBlockConfirmView {
  @ApiProperty({ enum: ['POST'] }) method!: 'POST';
  @ApiProperty({ enum: ['/reconcile'] }) path!: '/reconcile';
  @ApiProperty({ example: { clusterId: '<cluster id>', confirmDeletes: true } })
  body!: { clusterId: string; confirmDeletes: true };
}

/** Reconcile passes of this cluster stop at the mass-delete guard; how to let them proceed. */
export class DeleteBlockView {
  @ApiProperty({ description: 'When passes started stopping for this set of objects' })
  since!: string;
  @ApiProperty({ description: 'The newest blocked run' }) runId!: string;
  @ApiProperty() reason!: string;
  @ApiProperty({ description: 'Deletes the blocked plan holds' }) deletes!: number;
  @ApiProperty({ description: 'Deletes no audited deletion, pause or completion explains' })
  unexplained!: number;
  @ApiProperty({
    type: [String],
    description: 'Owners of the objects the pass would delete (`link:<id>`, `shovel:<id>`, ...)',
  })
  owners!: string[];
  @ApiProperty({ type: [String], description: 'The unexplained objects (first 20)' })
  objects!: string[];
  @ApiProperty({ type: DeleteBlockConfirmView }) confirm!: DeleteBlockConfirmView;
}

export class ClusterView {
  @ApiProperty() id!: string;
  @ApiProperty() siteId!: string;
  @ApiProperty() name!: string;
  @ApiProperty() brokerClusterName!: string;
  @ApiProperty({ enum: ['http', 'https'] }) managementScheme!: 'http' | 'https';
  @ApiProperty({ type: [EndpointDto] }) linkEndpoints!: EndpointDto[];
  @ApiProperty({ type: [String] }) vhosts!: string[];
  @ApiProperty({ description: 'Admin username (the password is write-only)' })
  adminUsername!: string;
  @ApiProperty({ description: 'Bumped on every credential change' }) credentialsVersion!: number;
  @ApiProperty({
    description:
      'True when a node or the management scheme changed since the admin credentials were entered: crossdock does not use them (no observation, pass, plan, probe or overflow) until they are entered again',
  })
  credentialsRebindRequired!: boolean;
  @ApiProperty({ type: [ReplicationRuleDto] }) replication!: ReplicationRule[];
  @ApiProperty() partitionHandling!: string;
  @ApiProperty({ type: [NodeView] }) nodes!: NodeView[];
  @ApiProperty({ type: ClusterTlsView, nullable: true }) tls!: ClusterTlsView | null;
  @ApiProperty({ nullable: true, type: String }) brokerVersion!: string | null;
  @ApiProperty({ nullable: true, type: String }) observedAt!: string | null;
  @ApiProperty({ type: [String] }) warnings!: string[];
  @ApiProperty({
    type: DeleteBlockView,
    nullable: true,
    description: 'Set while reconcile passes stop at the mass-delete guard',
  })
  deleteBlocked!: DeleteBlockView | null;
  @ApiProperty() version!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}

export class ClusterQueryDto extends NamedPageQueryDto {
  @ApiPropertyOptional({ description: 'Clusters of the site with this id' })
  @Optional()
  @IsUUID()
  siteId?: string;

  @ApiPropertyOptional({ description: 'Clusters of the site with this id or name' })
  @Optional()
  @IsString()
  @MaxLength(255)
  site?: string;
}
