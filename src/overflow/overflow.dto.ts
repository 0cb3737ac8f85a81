import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsInt,
  IsObject,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { IsDnsLabel, IsPrintable, Optional } from '../common/dto/validators';
import { NamedPageQueryDto } from '../common/http/pagination';

export class OverflowSourceDto {
  @ApiProperty() @IsUUID() clusterId!: string;
  @ApiProperty() @IsString() @MinLength(1) @MaxLength(255) @IsPrintable() vhost!: string;
  @ApiProperty({ description: 'The busy queue (classic or quorum)' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  queue!: string;
}

export class OverflowRemoteDto {
  @ApiProperty({ description: 'A cluster in another site' }) @IsUUID() clusterId!: string;
  @ApiProperty() @IsString() @MinLength(1) @MaxLength(255) @IsPrintable() vhost!: string;
  @ApiPropertyOptional({ description: 'Target queue there (or exchange)' })
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
  @ApiPropertyOptional() @Optional() @IsString() @MaxLength(255) @IsPrintable() routingKey?: string;
}

export class OverflowLimitsDto {
  @ApiPropertyOptional({ default: 5000, description: 'Overflow stays active at least this long' })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(86400000)
  minHoldMs?: number;
  @ApiPropertyOptional({ description: 'Never overflow while the remote target holds this many' })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(1000000000)
  remoteMaxDepth?: number;
  @ApiPropertyOptional({ default: 100, description: 'Spill shovel prefetch (messages in flight)' })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(10000)
  prefetch?: number;
  @ApiPropertyOptional({
    default: 100000,
    description: 'At most this many messages per spill batch',
  })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(100000000)
  batchLimit?: number;
  @ApiPropertyOptional({ default: true }) @Optional() @IsBoolean() enabled?: boolean;
}

export class CreateOverflowRuleDto extends OverflowLimitsDto {
  @ApiProperty() @IsDnsLabel() name!: string;
  @ApiProperty({ type: OverflowSourceDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => OverflowSourceDto)
  source!: OverflowSourceDto;
  @ApiProperty({ type: OverflowRemoteDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => OverflowRemoteDto)
  remote!: OverflowRemoteDto;
  @ApiProperty({ description: 'Queue depth (ready messages) that starts overflow' })
  @IsInt()
  @Min(1)
  @Max(1000000000)
  highWatermark!: number;
  @ApiProperty({ description: 'Queue depth at which overflow stops (hysteresis)' })
  @IsInt()
  @Min(0)
  @Max(1000000000)
  lowWatermark!: number;
}

export class UpdateOverflowRuleDto extends OverflowLimitsDto {
  @ApiPropertyOptional({ description: 'Queue depth (ready messages) that starts overflow' })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(1000000000)
  highWatermark?: number;
  @ApiPropertyOptional({ description: 'Queue depth at which overflow stops (hysteresis)' })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(1000000000)
  lowWatermark?: number;
}

export class OverflowQueryDto extends NamedPageQueryDto {
  @ApiPropertyOptional({ description: 'Rules on this cluster' })
  @Optional()
  @IsUUID()
  clusterId?: string;
}
