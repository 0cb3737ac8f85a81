import { ApiProperty, ApiPropertyOptional, PartialType, PickType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsDefined,
  IsObject,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { Optional, IsDnsLabel, IsPrintable } from '../common/dto/validators';
import { NamedPageQueryDto } from '../common/http/pagination';

export class ClusterVhostDto {
  @ApiProperty()
  @IsUUID()
  clusterId!: string;

  @ApiProperty({ example: '/' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  vhost!: string;
}

/** A federation link's upstream end: where it is, and optionally what it pulls from there. */
export class FederationUpstreamDto extends ClusterVhostDto {
  @ApiPropertyOptional({
    example: 'orders',
    description:
      'Exchange links only: the exchange on the upstream cluster (upstream key `exchange`), when it is not named like the downstream exchange',
  })
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  exchange?: string;
  @ApiPropertyOptional({
    example: 'to_fega',
    description:
      'Queue links only: the queue on the upstream cluster (upstream key `queue`), when it is not named like the downstream queue',
  })
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  queue?: string;
}

export class FederationSettingsDto {
  @ApiPropertyOptional({ default: 1000 })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(65535)
  prefetchCount?: number;
  @ApiPropertyOptional({ enum: ['on-confirm', 'on-publish', 'no-ack'], default: 'on-confirm' })
  @Optional()
  @IsIn(['on-confirm', 'on-publish', 'no-ack'])
  ackMode?: 'on-confirm' | 'on-publish' | 'no-ack';
  @ApiPropertyOptional({ default: 1 }) @Optional() @IsInt() @Min(1) @Max(10) maxHops?: number;
  @ApiPropertyOptional({ description: 'Upstream queue expiry, ms' })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(2147483647)
  expiresMs?: number;
  @ApiPropertyOptional({ description: 'Upstream queue message TTL, ms' })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(2147483647)
  messageTtlMs?: number;
  @ApiPropertyOptional({ default: 5 })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(3600)
  reconnectDelaySeconds?: number;
  @ApiPropertyOptional({ default: false }) @Optional() @IsBoolean() trustUserId?: boolean;
  @ApiPropertyOptional({
    enum: ['classic', 'quorum'],
    description:
      "Upstream key queue-type: the type of the upstream's federation queue. Needs RabbitMQ >= 3.13.1 on the downstream cluster (which holds the upstream): 422 for a cluster known to be older; a cluster never observed is checked when first observed (the link is held back there)",
  })
  @Optional()
  @IsIn(['classic', 'quorum'])
  queueType?: 'classic' | 'quorum';
}

export class CreateFederationLinkDto {
  @ApiProperty({ example: 'orders-dc1-to-dc2' }) @IsDnsLabel() name!: string;
  @ApiProperty({ enum: ['exchange', 'queue'] }) @IsIn(['exchange', 'queue']) kind!:
    'exchange' | 'queue';
  @ApiProperty({ type: ClusterVhostDto, description: 'Where messages arrive' })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => ClusterVhostDto)
  downstream!: ClusterVhostDto;
  @ApiProperty({
    type: FederationUpstreamDto,
    description: 'Where messages come from (another site), and from which exchange or queue there',
  })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => FederationUpstreamDto)
  upstream!: FederationUpstreamDto;
  @ApiPropertyOptional({
    type: [String],
    description: 'Exchange or queue names (or use targetPrefix)',
  })
  @Optional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(200)
  @ArrayUnique()
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(255, { each: true })
  @IsPrintable()
  targets?: string[];
  @ApiPropertyOptional({ description: 'Federate every exchange/queue whose name starts with this' })
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @IsPrintable()
  targetPrefix?: string;
  @ApiPropertyOptional({ type: FederationSettingsDto })
  @Optional()
  @ValidateNested()
  @Type(() => FederationSettingsDto)
  settings?: FederationSettingsDto;
  @ApiPropertyOptional({ enum: ['delete', 'retain'], default: 'delete' })
  @Optional()
  @IsIn(['delete', 'retain'])
  deletionPolicy?: 'delete' | 'retain';
}

/** PATCH of the upstream end: only what it pulls from (the cluster and vhost stay). */
export class UpdateFederationUpstreamDto {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description:
      'Exchange links only: the upstream exchange; null: the one named like the downstream exchange',
  })
  @Optional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  exchange?: string | null;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description:
      'Queue links only: the upstream queue; null: the one named like the downstream queue',
  })
  @Optional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  queue?: string | null;
}

export class UpdateFederationLinkDto extends PartialType(
  PickType(CreateFederationLinkDto, [
    'targets',
    'targetPrefix',
    'settings',
    'deletionPolicy',
  ] as const),
  { skipNullProperties: false },
) {
  @ApiPropertyOptional({
    type: UpdateFederationUpstreamDto,
    description:
      'Change the upstream exchange or queue the link pulls from (a real change restarts the link)',
  })
  @Optional()
  @IsObject()
  @ValidateNested()
  @Type(() => UpdateFederationUpstreamDto)
  upstream?: UpdateFederationUpstreamDto;
}

export class ShovelEndpointDto extends ClusterVhostDto {
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  queue?: string;
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  exchange?: string;
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MaxLength(255)
  @IsPrintable()
  exchangeKey?: string;
}

export class ShovelSettingsDto {
  @ApiPropertyOptional({ enum: ['on-confirm', 'on-publish', 'no-ack'], default: 'on-confirm' })
  @Optional()
  @IsIn(['on-confirm', 'on-publish', 'no-ack'])
  ackMode?: 'on-confirm' | 'on-publish' | 'no-ack';
  @ApiPropertyOptional({ default: 1000 })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(65535)
  prefetchCount?: number;
  @ApiPropertyOptional({ default: 5 })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(3600)
  reconnectDelaySeconds?: number;
  @ApiPropertyOptional({ description: "'never', 'queue-length' or a message count" })
  @Optional()
  deleteAfter?: 'never' | 'queue-length' | number;
  @ApiPropertyOptional() @Optional() @IsBoolean() addForwardHeaders?: boolean;
  @ApiPropertyOptional() @Optional() @IsBoolean() addTimestampHeader?: boolean;
  @ApiPropertyOptional({
    default: false,
    description:
      'With a destination queue: the shovel declares it when missing (classic, durable), and the link user gets configure on that queue name only. Without it a missing destination queue blocks the shovel until the queue exists.',
  })
  @Optional()
  @IsBoolean()
  declareDestination?: boolean;
}

export class CreateShovelDto {
  @ApiProperty() @IsDnsLabel() name!: string;
  @ApiProperty({ type: ShovelEndpointDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => ShovelEndpointDto)
  source!: ShovelEndpointDto;
  @ApiProperty({ type: ShovelEndpointDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => ShovelEndpointDto)
  destination!: ShovelEndpointDto;
  @ApiPropertyOptional({ type: ShovelSettingsDto })
  @Optional()
  @ValidateNested()
  @Type(() => ShovelSettingsDto)
  settings?: ShovelSettingsDto;
  @ApiPropertyOptional({ enum: ['delete', 'retain'], default: 'delete' })
  @Optional()
  @IsIn(['delete', 'retain'])
  deletionPolicy?: 'delete' | 'retain';
}

export class UpdateShovelDto extends PartialType(
  PickType(CreateShovelDto, ['settings', 'deletionPolicy'] as const),
  { skipNullProperties: false },
) {}

export class LinkQueryDto extends NamedPageQueryDto {
  @ApiPropertyOptional({ description: 'Links touching this cluster' })
  @Optional()
  @IsUUID()
  clusterId?: string;
}
