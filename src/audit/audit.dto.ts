import { Optional } from '../common/dto/validators';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsIn, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { PageQueryDto } from '../common/http/pagination';

export class AuditQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ example: 'cluster' })
  @Optional()
  @IsString()
  @MaxLength(32)
  @Matches(/^[a-z][a-z0-9-]*$/, {
    message: 'resourceType must be a resource type such as site or cluster',
  })
  resourceType?: string;

  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9-]+$/, { message: 'resourceId must be an id' })
  resourceId?: string;

  @ApiPropertyOptional({ description: 'Events touching this site' })
  @Optional()
  @IsUUID()
  siteId?: string;

  @ApiPropertyOptional({ description: 'Events touching this cluster' })
  @Optional()
  @IsUUID()
  clusterId?: string;

  @ApiPropertyOptional({ description: 'Actor name (token name or system actor)' })
  @Optional()
  @IsString()
  @MaxLength(100)
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  @Matches(/^[^\u0000-\u001f\u007f]+$/, { message: 'actor must be printable' })
  actor?: string;

  @ApiPropertyOptional({ example: 'site.update' })
  @Optional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[a-z][a-z0-9.-]*$/, { message: 'action must look like site.update' })
  action?: string;

  @ApiPropertyOptional({ description: 'From (inclusive), ISO 8601' })
  @Optional()
  @Type(() => Date)
  @IsDate()
  from?: Date;

  @ApiPropertyOptional({ description: 'To (exclusive), ISO 8601' })
  @Optional()
  @Type(() => Date)
  @IsDate()
  to?: Date;

  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MaxLength(128)
  @Matches(/^[A-Za-z0-9._:-]+$/, { message: 'requestId must be a request id' })
  requestId?: string;

  @ApiPropertyOptional({ description: "The caller's own X-Request-Id, kept beside requestId" })
  @Optional()
  @IsString()
  @MaxLength(128)
  @Matches(/^[A-Za-z0-9._:-]+$/, { message: 'clientRequestId must be a request id' })
  clientRequestId?: string;
}

export class AuditExportQueryDto {
  @ApiPropertyOptional({ description: 'From (inclusive), ISO 8601' })
  @Optional()
  @Type(() => Date)
  @IsDate()
  from?: Date;

  @ApiPropertyOptional({ description: 'To (exclusive), ISO 8601' })
  @Optional()
  @Type(() => Date)
  @IsDate()
  to?: Date;

  @ApiPropertyOptional({ enum: ['ndjson', 'csv'], default: 'ndjson' })
  @Optional()
  @IsIn(['ndjson', 'csv'])
  format?: 'ndjson' | 'csv';
}

export class AuditVerifyQueryDto {
  @ApiPropertyOptional({ description: 'An externally anchored head: its seq' })
  @Optional()
  @Matches(/^\d{1,19}$/, { message: 'anchorSeq must be a sequence number' })
  anchorSeq?: string;

  @ApiPropertyOptional({ description: 'An externally anchored head: its hash' })
  @Optional()
  @Matches(/^[0-9a-f]{64}$/, { message: 'anchorHash must be 64 hex characters' })
  anchorHash?: string;
}
