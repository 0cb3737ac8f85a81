import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsIn, IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { PageQueryDto } from '../common/http/pagination';

export class AuditQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ example: 'cluster' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  @Matches(/^[a-z][a-z0-9-]*$/, {
    message: 'resourceType must be a resource type such as site or cluster',
  })
  resourceType?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9-]+$/, { message: 'resourceId must be an id' })
  resourceId?: string;

  @ApiPropertyOptional({ description: 'Events touching this site' })
  @IsOptional()
  @IsUUID()
  siteId?: string;

  @ApiPropertyOptional({ description: 'Events touching this cluster' })
  @IsOptional()
  @IsUUID()
  clusterId?: string;

  @ApiPropertyOptional({ description: 'Actor name (token name or system actor)' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  actor?: string;

  @ApiPropertyOptional({ example: 'site.update' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[a-z][a-z0-9.-]*$/, { message: 'action must look like site.update' })
  action?: string;

  @ApiPropertyOptional({ description: 'From (inclusive), ISO 8601' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  from?: Date;

  @ApiPropertyOptional({ description: 'To (exclusive), ISO 8601' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  to?: Date;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(128)
  @Matches(/^[A-Za-z0-9._:-]+$/, { message: 'requestId must be a request id' })
  requestId?: string;
}

export class AuditExportQueryDto {
  @ApiPropertyOptional({ description: 'From (inclusive), ISO 8601' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  from?: Date;

  @ApiPropertyOptional({ description: 'To (exclusive), ISO 8601' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  to?: Date;

  @ApiPropertyOptional({ enum: ['ndjson', 'csv'], default: 'ndjson' })
  @IsOptional()
  @IsIn(['ndjson', 'csv'])
  format?: 'ndjson' | 'csv';
}

export class AuditVerifyQueryDto {
  @ApiPropertyOptional({ description: 'An externally anchored head: its seq' })
  @IsOptional()
  @Matches(/^\d{1,19}$/, { message: 'anchorSeq must be a sequence number' })
  anchorSeq?: string;

  @ApiPropertyOptional({ description: 'An externally anchored head: its hash' })
  @IsOptional()
  @Matches(/^[0-9a-f]{64}$/, { message: 'anchorHash must be 64 hex characters' })
  anchorHash?: string;
}
