import { Optional } from '../common/dto/validators';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { IsDnsLabel } from '../common/dto/validators';
import { policyApplyTos, type PolicyApplyTo } from '../broker-topology/broker-versions';
import { NamedPageQueryDto } from '../common/http/pagination';

export class CreatePolicyDto {
  @ApiProperty({ example: 'orders-limits' }) @IsDnsLabel() name!: string;
  @ApiProperty({ enum: ['cluster', 'site', 'global'] })
  @IsIn(['cluster', 'site', 'global'])
  scope!: 'cluster' | 'site' | 'global';
  @ApiPropertyOptional({ description: 'scope cluster' }) @Optional() @IsUUID() clusterId?: string;
  @ApiPropertyOptional({ description: 'scope site' }) @Optional() @IsUUID() siteId?: string;
  @ApiProperty({ example: '/' }) @IsString() @MinLength(1) @MaxLength(255) vhost!: string;
  @ApiProperty({
    example: '^orders\\.',
    description:
      'A regex PCRE, JavaScript and RE2 read alike, evaluated in linear time: back-references and lookaround are refused with 422 unsupported-pattern',
  })
  @IsString()
  @MaxLength(255)
  pattern!: string;
  @ApiProperty({
    enum: policyApplyTos,
    description:
      'classic_queues, quorum_queues and streams need RabbitMQ >= 3.12 on every cluster in scope (422 otherwise; a cluster never observed is checked when first observed)',
  })
  @IsIn(policyApplyTos)
  applyTo!: PolicyApplyTo;
  @ApiPropertyOptional({
    default: 0,
    description: 'Relative order among crossdock policies (0..100)',
  })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(100)
  priority?: number;
  @ApiProperty({ example: { 'max-length': 100000, overflow: 'reject-publish' } })
  @IsObject()
  definition!: Record<string, unknown>;
  @ApiPropertyOptional({
    description:
      'Pass the blast-radius guard: needed when destructive keys (message-ttl 0, max-length or max-length-bytes 0, expires under an hour, reject-publish overflow) would reach every queue of the vhost on more than one cluster (409 confirmation-required otherwise)',
  })
  @Optional()
  @IsBoolean()
  confirm?: boolean;
}

export class UpdatePolicyDto {
  @ApiPropertyOptional({
    description:
      'A regex PCRE, JavaScript and RE2 read alike, evaluated in linear time: back-references and lookaround are refused with 422 unsupported-pattern',
  })
  @Optional()
  @IsString()
  @MaxLength(255)
  pattern?: string;
  @ApiPropertyOptional() @Optional() @IsInt() @Min(0) @Max(100) priority?: number;
  @ApiPropertyOptional() @Optional() @IsObject() definition?: Record<string, unknown>;
  @ApiPropertyOptional({
    description:
      'Pass the blast-radius guard: needed when destructive keys (message-ttl 0, max-length or max-length-bytes 0, expires under an hour, reject-publish overflow) would reach every queue of the vhost on more than one cluster (409 confirmation-required otherwise)',
  })
  @Optional()
  @IsBoolean()
  confirm?: boolean;
}

export class PolicyQueryDto extends NamedPageQueryDto {
  @ApiPropertyOptional() @Optional() @IsUUID() clusterId?: string;
  @ApiPropertyOptional() @Optional() @IsUUID() siteId?: string;
}
