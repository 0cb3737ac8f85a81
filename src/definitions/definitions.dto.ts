import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsString,
  MaxLength,
  MinLength,
} from 'class-validator';
import { IsPrintable, Optional } from '../common/dto/validators';

export class ExportQueryDto {
  @ApiPropertyOptional({
    enum: ['placeholder', 'include'],
    default: 'placeholder',
    description:
      'placeholder: URIs carry a placeholder instead of the link user password; include (admin only, audited): the real password',
  })
  @Optional()
  @IsIn(['placeholder', 'include'])
  credentials?: 'placeholder' | 'include';
}

export class ImportRequestDto {
  @ApiPropertyOptional({
    default: true,
    description: 'Return the preview only; write nothing (the default)',
  })
  @Optional()
  @IsBoolean()
  dryRun?: boolean;

  @ApiPropertyOptional({
    type: [String],
    description: 'Vhosts to import from (default: every vhost crossdock manages on the cluster)',
  })
  @Optional()
  @IsArray()
  @ArrayMaxSize(100)
  @ArrayUnique()
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(255, { each: true })
  @IsPrintable()
  vhosts?: string[];

  @ApiPropertyOptional({
    default: false,
    description:
      'Also adopt the exchanges, queues and bindings of the vhosts as declared resources (deletion policy retain), as they are on the broker; federation internals, auto-delete and amq.* objects are skipped',
  })
  @Optional()
  @IsBoolean()
  topology?: boolean;
}
