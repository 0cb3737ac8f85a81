import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { ErrorCode } from '../common/errors/error-codes';
import { ApiIfMatch, IfMatchVersion } from '../common/http/if-match.decorator';
import type { Page } from '../common/http/pagination';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';
import {
  CreateBindingDto,
  CreateExchangeDto,
  CreateQueueDto,
  DeleteQueueQueryDto,
  TopologyQueryDto,
  UpdateExchangeDto,
  UpdateQueueDto,
} from './topology.dto';
import { BindingViewDto, ExchangeViewDto, QueueViewDto } from './topology.responses';
import { TopologyService } from './topology.service';
import type { BindingView, ExchangeView, QueueView } from './topology.view';

const immutable =
  "The broker cannot change an existing exchange's or queue's type or arguments: when the broker holds one with another definition, crossdock reports a conflict naming both (in `status`/`conflict` and in the plan) and never deletes and re-creates it.";

@ApiTags('topology')
@RequireRole('operator')
@ApiTokenProblems()
@Controller('exchanges')
export class ExchangesController {
  constructor(private readonly topology: TopologyService) {}

  @Post()
  @ApiOperation({
    summary: 'Declare an exchange',
    description: `An exchange on one cluster and vhost, created by the next pass (an identical one already there is adopted). ${immutable}`,
  })
  @ApiCreatedResponse({ type: ExchangeViewDto })
  @ApiBodyProblems()
  @ApiProblems(ErrorCode.DuplicateName, ErrorCode.ReferenceNotFound)
  create(@Body() dto: CreateExchangeDto): Promise<ExchangeView> {
    return this.topology.create({ kind: 'exchange', dto }) as Promise<ExchangeView>;
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List exchanges', description: 'Declared exchanges in creation order.' })
  @ApiPage(ExchangeViewDto)
  @ApiProblems(400)
  list(@Query() q: TopologyQueryDto): Promise<Page<ExchangeView>> {
    return this.topology.list('exchange', q) as Promise<Page<ExchangeView>>;
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get an exchange', description: 'The declaration and its status.' })
  @ApiOkResponse({ type: ExchangeViewDto })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<ExchangeView> {
    return this.topology.get('exchange', id) as Promise<ExchangeView>;
  }

  @Patch(':id')
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Change an exchange',
    description: `Changes the fields sent. ${immutable}`,
  })
  @ApiOkResponse({ type: ExchangeViewDto })
  @ApiBodyProblems()
  @ApiProblems(404, 412)
  update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateExchangeDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<ExchangeView> {
    return this.topology.update('exchange', id, dto, v) as Promise<ExchangeView>;
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Delete an exchange',
    description:
      'Deletes the declaration. With the deletion policy `retain` (the default) the exchange stays on the broker and crossdock stops owning it; with `delete` the next pass deletes it.',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, 412)
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.topology.remove('exchange', id, v);
  }
}

@ApiTags('topology')
@RequireRole('operator')
@ApiTokenProblems()
@Controller('queues')
export class QueuesController {
  constructor(private readonly topology: TopologyService) {}

  @Post()
  @ApiOperation({
    summary: 'Declare a queue',
    description: `A classic or quorum queue, or a stream (RabbitMQ >= 3.9), on one cluster and vhost, created by the next pass (an identical one already there is adopted). ${immutable}`,
  })
  @ApiCreatedResponse({ type: QueueViewDto })
  @ApiBodyProblems()
  @ApiProblems(
    ErrorCode.DuplicateName,
    ErrorCode.ReferenceNotFound,
    ErrorCode.UnsupportedByBrokerVersion,
  )
  create(@Body() dto: CreateQueueDto): Promise<QueueView> {
    return this.topology.create({ kind: 'queue', dto }) as Promise<QueueView>;
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List queues', description: 'Declared queues in creation order.' })
  @ApiPage(QueueViewDto)
  @ApiProblems(400)
  list(@Query() q: TopologyQueryDto): Promise<Page<QueueView>> {
    return this.topology.list('queue', q) as Promise<Page<QueueView>>;
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get a queue', description: 'The declaration and its status.' })
  @ApiOkResponse({ type: QueueViewDto })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<QueueView> {
    return this.topology.get('queue', id) as Promise<QueueView>;
  }

  @Patch(':id')
  @ApiIfMatch()
  @ApiOperation({ summary: 'Change a queue', description: `Changes the fields sent. ${immutable}` })
  @ApiOkResponse({ type: QueueViewDto })
  @ApiBodyProblems()
  @ApiProblems(404, 412, ErrorCode.UnsupportedByBrokerVersion)
  update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateQueueDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<QueueView> {
    return this.topology.update('queue', id, dto, v) as Promise<QueueView>;
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Delete a queue',
    description:
      'Deletes the declaration. With the deletion policy `retain` (the default) the queue and its messages stay on the broker and crossdock stops owning it; with `delete` the next pass deletes it, and a queue that holds messages needs `?confirm=delete-messages` (409 confirmation-required names the count).',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, 412, ErrorCode.ConfirmationRequired)
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @Query() q: DeleteQueueQueryDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.topology.remove('queue', id, v, q.confirm);
  }
}

@ApiTags('topology')
@RequireRole('operator')
@ApiTokenProblems()
@Controller('bindings')
export class BindingsController {
  constructor(private readonly topology: TopologyService) {}

  @Post()
  @ApiOperation({
    summary: 'Declare a binding',
    description:
      'A binding from an exchange to a queue or exchange on one cluster and vhost, created by the next pass. Bindings are created and deleted, never changed.',
  })
  @ApiCreatedResponse({ type: BindingViewDto })
  @ApiBodyProblems()
  @ApiProblems(ErrorCode.DuplicateName, ErrorCode.ReferenceNotFound)
  create(@Body() dto: CreateBindingDto): Promise<BindingView> {
    return this.topology.create({ kind: 'binding', dto }) as Promise<BindingView>;
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List bindings', description: 'Declared bindings in creation order.' })
  @ApiPage(BindingViewDto)
  @ApiProblems(400)
  list(@Query() q: TopologyQueryDto): Promise<Page<BindingView>> {
    return this.topology.list('binding', q) as Promise<Page<BindingView>>;
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get a binding', description: 'The declaration and its status.' })
  @ApiOkResponse({ type: BindingViewDto })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<BindingView> {
    return this.topology.get('binding', id) as Promise<BindingView>;
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Delete a binding',
    description: 'Deletes the declaration; the next pass removes the binding from the broker.',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, 412)
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.topology.remove('binding', id, v);
  }
}
