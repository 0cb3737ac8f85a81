import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsInt, IsObject, IsString, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { Optional, EndpointDto, IsDnsLabel, NestedEndpoint } from '../common/dto/validators';

export class CreateSiteDto {
  @ApiProperty({ example: 'dc1', description: 'Unique DNS label' })
  @IsDnsLabel()
  name!: string;

  @ApiProperty({ example: 'eu-west' })
  @IsString()
  @MaxLength(64)
  region!: string;

  @ApiPropertyOptional({ example: 'Frankfurt primary' })
  @Optional()
  @IsString()
  @MaxLength(2000)
  description?: string;

  @ApiPropertyOptional({
    type: EndpointDto,
    nullable: true,
    description: 'Load balancer (e.g. HAProxy + keepalived VIP) other sites use in cross-site URIs',
  })
  @Optional()
  @ValidateIf((_o, v) => v !== null)
  @IsObject()
  @NestedEndpoint()
  loadBalancer?: EndpointDto | null;

  @ApiPropertyOptional({
    example: 40,
    description: 'Expected WAN round-trip time to other sites, ms',
  })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(60000)
  expectedRttMs?: number;
}

export class UpdateSiteDto extends PartialType(CreateSiteDto, { skipNullProperties: false }) {}

export class SiteView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() region!: string;
  @ApiProperty() description!: string;
  @ApiProperty({ type: EndpointDto, nullable: true }) loadBalancer!: EndpointDto | null;
  @ApiProperty() expectedRttMs!: number;
  @ApiProperty({ description: 'Row version; the ETag is "v<version>"' }) version!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}
