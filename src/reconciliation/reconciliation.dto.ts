import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsUUID } from 'class-validator';
import { PageQueryDto } from '../common/http/pagination';

export class ReconcileRequestDto {
  @ApiPropertyOptional({ description: 'One cluster (else a site, else everything)' })
  @IsOptional()
  @IsUUID()
  clusterId?: string;
  @ApiPropertyOptional({ description: 'Every cluster of a site' })
  @IsOptional()
  @IsUUID()
  siteId?: string;
  @ApiPropertyOptional({ description: 'Return the plan; write nothing' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;
  @ApiPropertyOptional({ description: 'Allow a pass past the mass-delete guard' })
  @IsOptional()
  @IsBoolean()
  confirmDeletes?: boolean;
}

export class RunQueryDto extends PageQueryDto {
  @ApiPropertyOptional() @IsOptional() @IsUUID() clusterId?: string;
}
