import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsIn,
  IsObject,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';
import { queueTypes, type QueueType } from '../broker-topology/topology.codec';
import { IsPrintable, Optional } from '../common/dto/validators';
import { NamedPageQueryDto } from '../common/http/pagination';
import type { DeletionPolicy } from './topology-object.entity';

const deletionPolicies = ['retain', 'delete'] as const;
const argumentsText =
  'Arguments as the broker knows them (`x-max-length`, `x-dead-letter-exchange`, ...): at most 32 keys, strings up to 1024 characters, 4 KiB in all. Fixed once the broker holds the object: a change is reported as a conflict, never applied by deleting and re-creating it';

class TargetDto {
  @ApiProperty({ format: 'uuid' }) @IsUUID() clusterId!: string;
  @ApiProperty({ example: '/' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  vhost!: string;
}

export class CreateExchangeDto extends TargetDto {
  @ApiProperty({ example: 'orders' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  name!: string;
  @ApiPropertyOptional({
    default: 'direct',
    example: 'topic',
    description: "`direct`, `fanout`, `topic`, `headers`, or a plugin's type (`x-...`)",
  })
  @Optional()
  @IsString()
  @Matches(/^[a-z][a-z0-9._-]{0,63}$/, { message: 'type must be an exchange type name' })
  type?: string;
  @ApiPropertyOptional({ default: true }) @Optional() @IsBoolean() durable?: boolean;
  @ApiPropertyOptional({ default: false }) @Optional() @IsBoolean() autoDelete?: boolean;
  @ApiPropertyOptional({ default: false }) @Optional() @IsBoolean() internal?: boolean;
  @ApiPropertyOptional({ description: argumentsText, example: {} })
  @Optional()
  @IsObject()
  arguments?: Record<string, unknown>;
  @ApiPropertyOptional({
    enum: deletionPolicies,
    default: 'retain',
    description:
      'What deleting the resource does on the broker: `retain` leaves the exchange there (crossdock stops owning it), `delete` deletes it',
  })
  @Optional()
  @IsIn(deletionPolicies)
  deletionPolicy?: DeletionPolicy;
}

export class UpdateExchangeDto {
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @Matches(/^[a-z][a-z0-9._-]{0,63}$/, { message: 'type must be an exchange type name' })
  type?: string;
  @ApiPropertyOptional() @Optional() @IsBoolean() durable?: boolean;
  @ApiPropertyOptional() @Optional() @IsBoolean() autoDelete?: boolean;
  @ApiPropertyOptional() @Optional() @IsBoolean() internal?: boolean;
  @ApiPropertyOptional({ description: argumentsText })
  @Optional()
  @IsObject()
  arguments?: Record<string, unknown>;
  @ApiPropertyOptional({ enum: deletionPolicies })
  @Optional()
  @IsIn(deletionPolicies)
  deletionPolicy?: DeletionPolicy;
}

export class CreateQueueDto extends TargetDto {
  @ApiProperty({ example: 'orders.eu' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  name!: string;
  @ApiPropertyOptional({
    enum: queueTypes,
    default: 'classic',
    description:
      'stream needs RabbitMQ >= 3.9 on the cluster (422 for a cluster known to be older; a cluster never observed is checked when first observed). Quorum queues and streams are durable and never auto-deleted',
  })
  @Optional()
  @IsIn(queueTypes)
  type?: QueueType;
  @ApiPropertyOptional({ default: true }) @Optional() @IsBoolean() durable?: boolean;
  @ApiPropertyOptional({ default: false }) @Optional() @IsBoolean() autoDelete?: boolean;
  @ApiPropertyOptional({ description: argumentsText, example: { 'x-max-length': 100000 } })
  @Optional()
  @IsObject()
  arguments?: Record<string, unknown>;
  @ApiPropertyOptional({
    enum: deletionPolicies,
    default: 'retain',
    description:
      'What deleting the resource does on the broker: `retain` (the default) leaves the queue and its messages there (crossdock stops owning it), `delete` deletes it (a queue holding messages needs `?confirm=delete-messages`)',
  })
  @Optional()
  @IsIn(deletionPolicies)
  deletionPolicy?: DeletionPolicy;
}

export class UpdateQueueDto {
  @ApiPropertyOptional({ enum: queueTypes }) @Optional() @IsIn(queueTypes) type?: QueueType;
  @ApiPropertyOptional() @Optional() @IsBoolean() durable?: boolean;
  @ApiPropertyOptional() @Optional() @IsBoolean() autoDelete?: boolean;
  @ApiPropertyOptional({ description: argumentsText })
  @Optional()
  @IsObject()
  arguments?: Record<string, unknown>;
  @ApiPropertyOptional({ enum: deletionPolicies })
  @Optional()
  @IsIn(deletionPolicies)
  deletionPolicy?: DeletionPolicy;
}

export class CreateBindingDto extends TargetDto {
  @ApiProperty({ example: 'orders', description: 'The source exchange (not the default exchange)' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  source!: string;
  @ApiProperty({ enum: ['queue', 'exchange'] })
  @IsIn(['queue', 'exchange'])
  destinationType!: 'queue' | 'exchange';
  @ApiProperty({ example: 'orders.eu' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsPrintable()
  destination!: string;
  @ApiPropertyOptional({ default: '', example: 'eu.#' })
  @Optional()
  @IsString()
  @MaxLength(255)
  routingKey?: string;
  @ApiPropertyOptional({ description: 'Binding arguments (headers exchanges): as for queues' })
  @Optional()
  @IsObject()
  arguments?: Record<string, unknown>;
}

export class TopologyQueryDto extends NamedPageQueryDto {
  @ApiPropertyOptional({ format: 'uuid' }) @Optional() @IsUUID() clusterId?: string;
  @ApiPropertyOptional() @Optional() @IsString() @MaxLength(255) vhost?: string;
}

export class DeleteQueueQueryDto {
  @ApiPropertyOptional({
    enum: ['delete-messages'],
    description:
      'Needed to delete (deletion policy `delete`) a queue that holds messages, or whose depth cannot be read: 409 confirmation-required otherwise',
  })
  @Optional()
  @IsIn(['delete-messages'])
  confirm?: 'delete-messages';
}
