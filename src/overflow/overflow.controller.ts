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
import { ApiTags } from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { ApiIfMatch, IfMatchVersion } from '../common/http/if-match.decorator';
import type { Page } from '../common/http/pagination';
import { CreateOverflowRuleDto, OverflowQueryDto, UpdateOverflowRuleDto } from './overflow.dto';
import { OverflowRulesService, type OverflowRuleView } from './overflow-rules.service';

@ApiTags('overflow')
@RequireRole('operator')
@Controller('overflow-rules')
export class OverflowController {
  constructor(private readonly rules: OverflowRulesService) {}

  @Post()
  create(@Body() dto: CreateOverflowRuleDto): Promise<OverflowRuleView> {
    return this.rules.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  list(@Query() q: OverflowQueryDto): Promise<Page<OverflowRuleView>> {
    return this.rules.list(q);
  }

  /** The rule with its live status: state, depth, messages diverted, and why. */
  @Get(':id')
  @RequireRole('viewer')
  get(@Param('id', ParseUUIDPipe) id: string): Promise<OverflowRuleView> {
    return this.rules.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateOverflowRuleDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<OverflowRuleView> {
    return this.rules.update(id, dto, v);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.rules.remove(id, v);
  }
}
