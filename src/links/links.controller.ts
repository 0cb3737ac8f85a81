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
import type { FederationLinkView } from './federation-link.view';
import { FederationLinksService } from './federation-links.service';
import {
  CreateFederationLinkDto,
  CreateShovelDto,
  LinkQueryDto,
  UpdateFederationLinkDto,
  UpdateShovelDto,
} from './links.dto';
import { ShovelsService, type ShovelView } from './shovels.service';
import { LinkPreflightService } from './link-preflight.service';
import { federationNeeds, shovelNeeds } from './preflight';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';
import { ErrorCode } from '../common/errors/error-codes';
import { FederationLinkViewDto, ShovelViewDto } from './links.responses';

@ApiTags('links')
@RequireRole('operator')
@ApiTokenProblems()
@Controller('links/federation')
export class FederationLinksController {
  constructor(
    private readonly links: FederationLinksService,
    private readonly preflight: LinkPreflightService,
  ) {}

  /** Preflight after the write: missing objects and permissions come back as warnings. */
  private async checked(view: FederationLinkView): Promise<FederationLinkView> {
    const p = await this.preflight.check(federationNeeds(view), true);
    return { ...view, warnings: [...view.warnings, ...p.warnings] };
  }

  @Post()
  @ApiOperation({
    summary: 'Create a federation link',
    description:
      'Federates exchanges or queues (by name, or by name prefix) from an upstream cluster into a downstream cluster. Both clusters must exist (409 reference-not-found otherwise). The next reconcile pass of the downstream cluster writes the upstream, upstream set and policy; follow it with GET /links/federation/{id}/status and /health.',
  })
  @ApiCreatedResponse({ type: FederationLinkViewDto, description: 'The new link' })
  @ApiBodyProblems()
  @ApiProblems(
    ErrorCode.DuplicateName,
    ErrorCode.ReferenceNotFound,
    ErrorCode.PolicyConflict,
    ErrorCode.UnsupportedByBrokerVersion,
  )
  async create(@Body() dto: CreateFederationLinkDto): Promise<FederationLinkView> {
    return this.checked(await this.links.create(dto));
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List federation links',
    description:
      'Federation links in creation order, one page at a time; `?name=` finds one by name, `?clusterId=` those touching a cluster.',
  })
  @ApiPage(FederationLinkViewDto)
  @ApiProblems(400)
  list(@Query() q: LinkQueryDto): Promise<Page<FederationLinkView>> {
    return this.links.list(q);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get a federation link',
    description:
      'The link as registered, with `generation` (bumped by each change) and `appliedGeneration` (what the reconciler last applied).',
  })
  @ApiOkResponse({ type: FederationLinkViewDto })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<FederationLinkView> {
    return this.links.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Change a federation link',
    description: 'Changes the fields sent; the next reconcile pass applies them.',
  })
  @ApiOkResponse({ type: FederationLinkViewDto })
  @ApiBodyProblems()
  @ApiProblems(
    404,
    ErrorCode.DuplicateName,
    ErrorCode.PolicyConflict,
    412,
    ErrorCode.UnsupportedByBrokerVersion,
  )
  async update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateFederationLinkDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<FederationLinkView> {
    return this.checked(await this.links.update(id, dto, v));
  }

  /** Keeps the desired state; removes the link's broker objects until resumed. */
  @Post(':id/pause')
  @HttpCode(200)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Pause a federation link',
    description:
      'Stops the link on the broker (the next pass removes its upstream) while keeping it registered; probes report it as paused.',
  })
  @ApiOkResponse({ type: FederationLinkViewDto })
  @ApiProblems(400, 404, 412)
  pause(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<FederationLinkView> {
    return this.links.setPaused(id, true, v);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Resume a federation link',
    description: 'Undoes a pause: the next pass writes the link again.',
  })
  @ApiOkResponse({ type: FederationLinkViewDto })
  @ApiProblems(400, 404, 412)
  resume(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<FederationLinkView> {
    return this.links.setPaused(id, false, v);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Delete a federation link',
    description:
      'Deletes the link; with deletionPolicy `delete` its broker objects are removed by the next pass, with `retain` they are left on the broker.',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, 412)
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.links.remove(id, v);
  }
}

@ApiTags('links')
@RequireRole('operator')
@ApiTokenProblems()
@Controller('links/shovels')
export class ShovelsController {
  constructor(
    private readonly shovels: ShovelsService,
    private readonly preflight: LinkPreflightService,
  ) {}

  /** Preflight after the write: missing objects and permissions come back as warnings. */
  private async checked(view: ShovelView): Promise<ShovelView> {
    const p = await this.preflight.check(shovelNeeds(view), true);
    return { ...view, warnings: p.warnings };
  }

  @Post()
  @ApiOperation({
    summary: 'Create a shovel',
    description:
      'Moves messages from a queue or exchange of a source cluster to a destination cluster. Both clusters must exist (409 reference-not-found otherwise). The next reconcile pass of the source cluster writes the shovel.',
  })
  @ApiCreatedResponse({ type: ShovelViewDto, description: 'The new shovel' })
  @ApiBodyProblems()
  @ApiProblems(ErrorCode.DuplicateName, ErrorCode.ReferenceNotFound, ErrorCode.Conflict)
  async create(@Body() dto: CreateShovelDto): Promise<ShovelView> {
    return this.checked(await this.shovels.create(dto));
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List shovels',
    description:
      'Shovels in creation order, one page at a time; `?name=` finds one by name, `?clusterId=` those touching a cluster.',
  })
  @ApiPage(ShovelViewDto)
  @ApiProblems(400)
  list(@Query() q: LinkQueryDto): Promise<Page<ShovelView>> {
    return this.shovels.list(q);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get a shovel',
    description:
      'The shovel as registered; a one-shot shovel the broker removed once done shows `completedAt` and `completion`.',
  })
  @ApiOkResponse({ type: ShovelViewDto })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<ShovelView> {
    return this.shovels.get(id);
  }

  /** Settings change in place: the shovel parameter is updated, never deleted and recreated. */
  @Patch(':id')
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Change a shovel',
    description: 'Changes the fields sent; the next reconcile pass applies them.',
  })
  @ApiOkResponse({ type: ShovelViewDto })
  @ApiBodyProblems()
  @ApiProblems(404, ErrorCode.DuplicateName, ErrorCode.Conflict, 412)
  async update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateShovelDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<ShovelView> {
    return this.checked(await this.shovels.update(id, dto, v));
  }

  @Post(':id/pause')
  @HttpCode(200)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Pause a shovel',
    description: 'Stops the shovel on the broker while keeping it registered.',
  })
  @ApiOkResponse({ type: ShovelViewDto })
  @ApiProblems(400, 404, 412)
  pause(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<ShovelView> {
    return this.shovels.setPaused(id, true, v);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Resume a shovel',
    description: 'Undoes a pause: the next pass writes the shovel again.',
  })
  @ApiOkResponse({ type: ShovelViewDto })
  @ApiProblems(400, 404, 412)
  resume(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<ShovelView> {
    return this.shovels.setPaused(id, false, v);
  }

  /**
   * Runs a completed one-shot shovel (numeric or `queue-length` deleteAfter) again: the next
   * pass re-creates it and it moves its messages once more. 409 unless it has completed.
   */
  @Post(':id/rerun')
  @HttpCode(200)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Run a completed one-shot shovel again',
    description:
      'A one-shot shovel (numeric or `queue-length` deleteAfter) the broker removed once done is re-created by the next pass and moves its messages once more. 409 unless it has completed.',
  })
  @ApiOkResponse({ type: ShovelViewDto })
  @ApiProblems(400, 404, ErrorCode.Conflict, 412)
  rerun(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<ShovelView> {
    return this.shovels.rerun(id, v);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Delete a shovel',
    description:
      'Deletes the shovel; with deletionPolicy `delete` the next pass removes it from the broker, with `retain` it is left there.',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, 412)
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.shovels.remove(id, v);
  }
}
