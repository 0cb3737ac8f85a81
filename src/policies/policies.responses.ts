import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { policyApplyTos, type PolicyApplyTo } from '../broker-topology/broker-versions';
import type { PolicyView } from './policies.service';

@ApiSchema({ name: 'PolicyView' })
export class PolicyViewDto implements PolicyView {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'orders-ha' }) name!: string;
  @ApiProperty({ enum: ['cluster', 'site', 'global'], description: 'Which clusters get it' })
  scope!: 'cluster' | 'site' | 'global';
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) clusterId!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) siteId!: string | null;
  @ApiProperty({ example: '/' }) vhost!: string;
  @ApiProperty({ example: '^orders\\.' }) pattern!: string;
  @ApiProperty({ enum: policyApplyTos }) applyTo!: PolicyApplyTo;
  @ApiProperty() priority!: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { 'max-length': 100000 },
    description: 'Policy keys as the broker knows them',
  })
  definition!: Record<string, unknown>;
  @ApiProperty({ type: [String] }) warnings!: string[];
  @ApiProperty({ description: 'Row version; the ETag is "v<version>"' }) version!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}
