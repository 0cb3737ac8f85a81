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
import { CreatePolicyDto, PolicyQueryDto, UpdatePolicyDto } from './policies.dto';
import { PoliciesService, type PolicyView } from './policies.service';

@ApiTags('policies')
@RequireRole('operator')
@Controller('policies')
export class PoliciesController {
  constructor(private readonly policies: PoliciesService) {}

  /** Merged by the compiler with federation and mirroring keys into one broker policy per object set. */
  @Post()
  create(@Body() dto: CreatePolicyDto): Promise<PolicyView> {
    return this.policies.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  list(@Query() q: PolicyQueryDto): Promise<Page<PolicyView>> {
    return this.policies.list(q);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@Param('id', ParseUUIDPipe) id: string): Promise<PolicyView> {
    return this.policies.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdatePolicyDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<PolicyView> {
    return this.policies.update(id, dto, v);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.policies.remove(id, v);
  }
}
