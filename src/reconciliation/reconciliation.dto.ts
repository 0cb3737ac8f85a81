import { Optional } from '../common/dto/validators';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsUUID } from 'class-validator';
import { PageQueryDto } from '../common/http/pagination';

export class ReconcileRequestDto {
  @ApiPropertyOptional({ description: 'One cluster (else a site, else everything)' })
  @Optional()
  @IsUUID()
  clusterId?: string;
  @ApiPropertyOptional({ description: 'Every cluster of a site' })
  @Optional()
  @IsUUID()
  siteId?: string;
  @ApiPropertyOptional({ description: 'Return the plan; write nothing' })
  @Optional()
  @IsBoolean()
  dryRun?: boolean;
  @ApiPropertyOptional({ description: 'Allow a pass past the mass-delete guard' })
  @Optional()
  @IsBoolean()
  confirmDeletes?: boolean;
}

export class RunQueryDto extends PageQueryDto {
  @ApiPropertyOptional() @Optional() @IsUUID() clusterId?: string;
}
