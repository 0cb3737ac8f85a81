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
import { NamedPageQueryDto, type Page } from '../common/http/pagination';
import { CreateSiteDto, SiteView, UpdateSiteDto } from './sites.dto';
import { SitesService } from './sites.service';

@ApiTags('sites')
@RequireRole('admin')
@Controller('sites')
export class SitesController {
  constructor(private readonly sites: SitesService) {}

  @Post()
  create(@Body() dto: CreateSiteDto): Promise<SiteView> {
    return this.sites.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  list(@Query() query: NamedPageQueryDto): Promise<Page<SiteView>> {
    return this.sites.list(query);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@Param('id', ParseUUIDPipe) id: string): Promise<SiteView> {
    return this.sites.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateSiteDto,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<SiteView> {
    return this.sites.update(id, dto, expected);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<void> {
    await this.sites.remove(id, expected);
  }
}
