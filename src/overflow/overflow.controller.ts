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
import { ApiIfMatch, IfMatchVersion } from '../common/http/if-match.decorator';
import type { Page } from '../common/http/pagination';
import { CreateOverflowRuleDto, OverflowQueryDto, UpdateOverflowRuleDto } from './overflow.dto';
import { OverflowRulesService, type OverflowRuleView } from './overflow-rules.service';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';
import { ErrorCode } from '../common/errors/error-codes';
import { OverflowRuleViewDto } from './overflow.responses';
import { LinkPreflightService } from '../links/link-preflight.service';
import { shovelNeeds } from '../links/preflight';

@ApiTags('overflow')
@RequireRole('operator')
@ApiTokenProblems()
@Controller('overflow-rules')
export class OverflowController {
  constructor(
    private readonly rules: OverflowRulesService,
    private readonly preflight: LinkPreflightService,
  ) {}

  /**
   * Preflight after the write: the spill is a shovel from the source queue to the remote queue
   * or exchange; what it would miss comes back as warnings.
   */
  private async checked(view: OverflowRuleView): Promise<OverflowRuleView> {
    const p = await this.preflight.check(
      shovelNeeds({
        source: { ...view.source, exchange: null },
        destination: {
          clusterId: view.remote.clusterId,
          vhost: view.remote.vhost,
          queue: view.remote.queue,
          exchange: view.remote.exchange,
        },
      }),
      true,
    );
    return { ...view, warnings: p.warnings };
  }

  @Post()
  @ApiOperation({
    summary: 'Create an overflow rule',
    description:
      'When a source queue passes its high watermark, crossdock moves messages in bounded batches to a remote cluster (a queue, or an exchange with a routing key) until it falls below the low watermark. Both clusters must exist (409 reference-not-found otherwise); one rule per queue.',
  })
  @ApiCreatedResponse({ type: OverflowRuleViewDto, description: 'The new rule' })
  @ApiBodyProblems()
  @ApiProblems(ErrorCode.DuplicateName, ErrorCode.ReferenceNotFound, ErrorCode.Conflict)
  async create(@Body() dto: CreateOverflowRuleDto): Promise<OverflowRuleView> {
    return this.checked(await this.rules.create(dto));
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List overflow rules',
    description:
      'Overflow rules in creation order, one page at a time; `?name=` finds one by name.',
  })
  @ApiPage(OverflowRuleViewDto)
  @ApiProblems(400)
  list(@Query() q: OverflowQueryDto): Promise<Page<OverflowRuleView>> {
    return this.rules.list(q);
  }

  /** The rule with its live status: state, depth, messages diverted, and why. */
  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get an overflow rule',
    description: "The overflow rule as registered, with the engine's current status.",
  })
  @ApiOkResponse({ type: OverflowRuleViewDto })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<OverflowRuleView> {
    return this.rules.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Change an overflow rule',
    description: 'Changes the fields sent; the engine uses them from its next evaluation.',
  })
  @ApiOkResponse({ type: OverflowRuleViewDto })
  @ApiBodyProblems()
  @ApiProblems(404, ErrorCode.DuplicateName, ErrorCode.Conflict, 412)
  async update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateOverflowRuleDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<OverflowRuleView> {
    return this.checked(await this.rules.update(id, dto, v));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Delete an overflow rule',
    description: 'Deletes the overflow rule; a running batch stops.',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, 412)
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.rules.remove(id, v);
  }
}
