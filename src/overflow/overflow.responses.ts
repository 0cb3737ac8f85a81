import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import type { OverflowRuleView } from './overflow-rules.service';

export class OverflowSourceView {
  @ApiProperty({ format: 'uuid' }) clusterId!: string;
  @ApiProperty({ example: '/' }) vhost!: string;
  @ApiProperty({ example: 'orders' }) queue!: string;
}

export class OverflowRemoteView {
  @ApiProperty({ format: 'uuid' }) clusterId!: string;
  @ApiProperty({ example: '/' }) vhost!: string;
  @ApiProperty({ type: String, nullable: true }) queue!: string | null;
  @ApiProperty({ type: String, nullable: true }) exchange!: string | null;
  @ApiProperty({ type: String, nullable: true }) routingKey!: string | null;
}

export class OverflowBatchView {
  @ApiProperty({ description: 'Messages the running batch may move' }) budget!: number;
  @ApiProperty({ format: 'date-time' }) startedAt!: string;
  @ApiProperty({ description: 'Messages this batch moved so far (confirmed remotely)' })
  moved!: number;
}

export class OverflowStatusView {
  @ApiProperty({
    example: 'inactive',
    enum: ['inactive', 'starting', 'active', 'draining', 'suspended', 'failing'],
    description:
      'starting: a spill shovel was started and has moved nothing yet; active: the spill moves messages; failing: the spill shovel exists but moves nothing (reason says why)',
  })
  state!: string;
  @ApiProperty() reason!: string;
  @ApiProperty({ format: 'date-time' }) since!: string;
  @ApiProperty({ type: Number, nullable: true, description: 'Last observed queue depth' })
  depth!: number | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  lastEvaluatedAt!: string | null;
  @ApiProperty({
    description:
      'Messages moved to the remote site (confirmed there): finished batches plus the running one',
  })
  diverted!: number;
  @ApiProperty() activations!: number;
  @ApiProperty({ type: OverflowBatchView, nullable: true }) batch!: OverflowBatchView | null;
}

@ApiSchema({ name: 'OverflowRuleView' })
export class OverflowRuleViewDto implements OverflowRuleView {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'orders-spill' }) name!: string;
  @ApiProperty({ type: OverflowSourceView }) source!: OverflowSourceView;
  @ApiProperty({ type: OverflowRemoteView }) remote!: OverflowRemoteView;
  @ApiProperty() highWatermark!: number;
  @ApiProperty() lowWatermark!: number;
  @ApiProperty() minHoldMs!: number;
  @ApiProperty({ type: Number, nullable: true }) remoteMaxDepth!: number | null;
  @ApiProperty() prefetch!: number;
  @ApiProperty() batchLimit!: number;
  @ApiProperty() enabled!: boolean;
  @ApiPropertyOptional({
    type: [String],
    description:
      'Create and change only: what the preflight found missing for the spill (the source queue, the remote queue or exchange, link-user permissions), naming the object and the cluster',
  })
  warnings?: string[];
  @ApiProperty({ type: OverflowStatusView }) status!: OverflowStatusView;
  @ApiProperty({ description: 'Row version; the ETag is "v<version>"' }) version!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}
