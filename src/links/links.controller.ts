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
import { FederationLinksService, type FederationLinkView } from './federation-links.service';
import {
  CreateFederationLinkDto,
  CreateShovelDto,
  LinkQueryDto,
  UpdateFederationLinkDto,
  UpdateShovelDto,
} from './links.dto';
import { ShovelsService, type ShovelView } from './shovels.service';

@ApiTags('links')
@RequireRole('operator')
@Controller('links/federation')
export class FederationLinksController {
  constructor(private readonly links: FederationLinksService) {}

  @Post()
  create(@Body() dto: CreateFederationLinkDto): Promise<FederationLinkView> {
    return this.links.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  list(@Query() q: LinkQueryDto): Promise<Page<FederationLinkView>> {
    return this.links.list(q);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@Param('id', ParseUUIDPipe) id: string): Promise<FederationLinkView> {
    return this.links.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateFederationLinkDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<FederationLinkView> {
    return this.links.update(id, dto, v);
  }

  /** Keeps the desired state; removes the link's broker objects until resumed. */
  @Post(':id/pause')
  @HttpCode(200)
  @ApiIfMatch()
  pause(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<FederationLinkView> {
    return this.links.setPaused(id, true, v);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiIfMatch()
  resume(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<FederationLinkView> {
    return this.links.setPaused(id, false, v);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.links.remove(id, v);
  }
}

@ApiTags('links')
@RequireRole('operator')
@Controller('links/shovels')
export class ShovelsController {
  constructor(private readonly shovels: ShovelsService) {}

  @Post()
  create(@Body() dto: CreateShovelDto): Promise<ShovelView> {
    return this.shovels.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  list(@Query() q: LinkQueryDto): Promise<Page<ShovelView>> {
    return this.shovels.list(q);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@Param('id', ParseUUIDPipe) id: string): Promise<ShovelView> {
    return this.shovels.get(id);
  }

  /** Settings change in place: the shovel parameter is updated, never deleted and recreated. */
  @Patch(':id')
  @ApiIfMatch()
  update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateShovelDto,
    @IfMatchVersion() v: number | undefined,
  ): Promise<ShovelView> {
    return this.shovels.update(id, dto, v);
  }

  @Post(':id/pause')
  @HttpCode(200)
  @ApiIfMatch()
  pause(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<ShovelView> {
    return this.shovels.setPaused(id, true, v);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiIfMatch()
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
  rerun(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<ShovelView> {
    return this.shovels.rerun(id, v);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() v: number | undefined,
  ): Promise<void> {
    await this.shovels.remove(id, v);
  }
}
