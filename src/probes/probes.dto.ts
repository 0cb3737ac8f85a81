import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsInt, Max, Min } from 'class-validator';
import { Optional } from '../common/dto/validators';

export class HealthThresholdsDto {
  @ApiPropertyOptional({ description: 'Probe lag p95 above this (ms) makes the link degraded' })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(3600000)
  lagDegradedMs?: number;

  @ApiPropertyOptional({
    description: 'A probe not received within this (ms) is lost: the link is down',
  })
  @Optional()
  @IsInt()
  @Min(100)
  @Max(3600000)
  downAfterMs?: number;

  @ApiPropertyOptional({
    description: 'A growing backlog of at least this many messages is degraded',
  })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(1000000000)
  backlogDegradedMessages?: number;
}

export class SamplesQueryDto {
  @ApiPropertyOptional({ description: 'From (inclusive), ISO 8601; default: 15 minutes ago' })
  @Optional()
  @Type(() => Date)
  @IsDate()
  from?: Date;

  @ApiPropertyOptional({ description: 'To (exclusive), ISO 8601; default: now' })
  @Optional()
  @Type(() => Date)
  @IsDate()
  to?: Date;

  @ApiPropertyOptional({
    description:
      'Bucket width in seconds (downsampled series); without it, raw samples (at most 10,000)',
  })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(86400)
  step?: number;
}
