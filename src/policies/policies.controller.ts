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
import { CreatePolicyDto, PolicyQueryDto, UpdatePolicyDto } from './policies.dto';
import { PoliciesService, type PolicyView } from './policies.service';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';
import { ErrorCode } from '../common/errors/error-codes';
import { PolicyViewDto } from './policies.responses';

@ApiTags('policies')
@RequireRole('operator')
@ApiTokenProblems()
@Controller('policies')
export class PoliciesController {
  constructor(private readonly policies: PoliciesService) {}

  /** Merged by the compiler with federation and mirroring keys into one broker policy per object set. */
  @Post()
  @ApiOperation({
    summary: 'Create a policy',
    description:
      'A RabbitMQ policy applied to one cluster, every cluster of a site, or every cluster (`scope`). A policy that would touch many objects needs `confirm: true` (409 confirmation-required names the blast radius); one that overlaps another at the same priority is refused (409 policy-conflict).',
  })
  @ApiCreatedResponse({ type: PolicyViewDto, description: 'The new policy' })
  @ApiBodyProblems()
  @ApiProblems(
    ErrorCode.DuplicateName,
    ErrorCode.ReferenceNotFound,
    ErrorCode.PolicyConflict,
    ErrorCode.ConfirmationRequired,
    ErrorCode.UnsupportedPattern,
    ErrorCode.UnsupportedByBrokerVersion,
  )
  create(@Body() dto: CreatePolicyDto): Promise<PolicyView> {
    return this.policies.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List policies',
    description: 'Policies in creation order, one page at a time; `?name=` finds one by name.',
  })
  @ApiPage(PolicyViewDto)
  @ApiProblems(400)
  list(@Query() q: PolicyQueryDto): Promise<Page<PolicyView>> {
    return this.policies.list(q);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get a policy',
    description: 'The policy as registered, with warnings about what it overrides.',
  })
  @ApiOkResponse({ type: PolicyViewDto })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<PolicyView> {
    return this.policies.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Change a policy',
    description: 'Changes the fields sent; the same checks as on creation apply.',
  })
  @ApiOkResponse({ type: PolicyViewDto })
  @ApiBodyProblems()
  @ApiProblems(
    404,
    ErrorCode.DuplicateName,
    ErrorCode.PolicyConflict,
    ErrorCode.ConfirmationRequired,
    412,
    ErrorCode.UnsupportedPattern,
    ErrorCode.UnsupportedByBrokerVersion,
  )
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
  @ApiOperation({
    summary: 'Delete a policy',
    description: 'Deletes the policy; the next passes remove it from the clusters.',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, 412)
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.policies.remove(id, v);
  }
}
