import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { queueTypes, type QueueType } from '../broker-topology/topology.codec';
import type { DeletionPolicy } from './topology-object.entity';
import type { BindingView, ExchangeView, QueueView, TopologyStatus } from './topology.view';

const statuses = ['pending', 'present', 'conflict'];

class TopologyCommonDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) clusterId!: string;
  @ApiProperty({ example: '/' }) vhost!: string;
  @ApiProperty({
    enum: statuses,
    description:
      '`pending`: not on the broker through crossdock yet (the next pass creates it, or adopts an identical one); `present`: on the broker as declared; `conflict`: the broker holds one with another type or arguments, left untouched (see `conflict`)',
  })
  status!: TopologyStatus;
  @ApiProperty({
    type: String,
    nullable: true,
    description: "The latest pass's conflict, naming crossdock's definition and the broker's",
  })
  conflict!: string | null;
  @ApiProperty({ type: [String] }) warnings!: string[];
  @ApiProperty({ description: 'Row version; the ETag is "v<version>"' }) version!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

@ApiSchema({ name: 'ExchangeView' })
export class ExchangeViewDto extends TopologyCommonDto implements ExchangeView {
  @ApiProperty({ example: 'orders' }) name!: string;
  @ApiProperty({ example: 'topic' }) type!: string;
  @ApiProperty() durable!: boolean;
  @ApiProperty() autoDelete!: boolean;
  @ApiProperty() internal!: boolean;
  @ApiProperty({ type: 'object', additionalProperties: true }) arguments!: Record<string, unknown>;
  @ApiProperty({ enum: ['retain', 'delete'] }) deletionPolicy!: DeletionPolicy;
}

@ApiSchema({ name: 'QueueView' })
export class QueueViewDto extends TopologyCommonDto implements QueueView {
  @ApiProperty({ example: 'orders.eu' }) name!: string;
  @ApiProperty({ enum: queueTypes }) type!: QueueType;
  @ApiProperty() durable!: boolean;
  @ApiProperty() autoDelete!: boolean;
  @ApiProperty({ type: 'object', additionalProperties: true, example: { 'x-max-length': 100000 } })
  arguments!: Record<string, unknown>;
  @ApiProperty({ enum: ['retain', 'delete'] }) deletionPolicy!: DeletionPolicy;
}

@ApiSchema({ name: 'BindingView' })
export class BindingViewDto extends TopologyCommonDto implements BindingView {
  @ApiProperty({ example: 'orders' }) source!: string;
  @ApiProperty({ enum: ['queue', 'exchange'] }) destinationType!: 'queue' | 'exchange';
  @ApiProperty({ example: 'orders.eu' }) destination!: string;
  @ApiPropertyOptional({ example: 'eu.#' }) routingKey!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) arguments!: Record<string, unknown>;
}
