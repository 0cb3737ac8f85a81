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
import { ErrorCode } from '../common/errors/error-codes';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';
import { RequireRole } from '../common/access/access.decorators';
import { ApiIfMatch, IfMatchVersion } from '../common/http/if-match.decorator';
import { type JsonText, NamedPageQueryDto, type Page } from '../common/http/pagination';
import { CreateSiteDto, SiteView, UpdateSiteDto } from './sites.dto';
import { SitesService } from './sites.service';

@ApiTags('sites')
@ApiTokenProblems()
@RequireRole('admin')
@Controller('sites')
export class SitesController {
  constructor(private readonly sites: SitesService) {}

  @Post()
  @ApiOperation({
    summary: 'Register a site',
    description:
      'A site is a location (data centre, region) holding RabbitMQ clusters. Its load balancer, when set, is the address other sites put in their cross-site URIs; `expectedRttMs` sets the default health thresholds of links crossing to it.',
  })
  @ApiCreatedResponse({ type: SiteView, description: 'The new site' })
  @ApiBodyProblems()
  @ApiProblems(ErrorCode.DuplicateName)
  create(@Body() dto: CreateSiteDto): Promise<SiteView> {
    return this.sites.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List sites',
    description: 'Sites in registration order, one page at a time; `?name=` finds one by name.',
  })
  @ApiPage(SiteView)
  @ApiProblems(400)
  list(@Query() query: NamedPageQueryDto): Promise<JsonText<Page<SiteView>>> {
    return this.sites.list(query);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get a site',
    description: 'The site with its row `version` (also sent as the ETag, for If-Match).',
  })
  @ApiOkResponse({ type: SiteView })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<SiteView> {
    return this.sites.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Change a site',
    description:
      'Changes the fields sent (`null` clears the load balancer). A changed load balancer or RTT is applied to the links crossing to the site by the next reconcile pass.',
  })
  @ApiOkResponse({ type: SiteView })
  @ApiBodyProblems()
  @ApiProblems(404, ErrorCode.DuplicateName, 412)
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
  @ApiOperation({
    summary: 'Delete a site',
    description:
      'Only a site without clusters or site-scoped policies can be deleted (409 otherwise).',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, ErrorCode.DependentsExist, 412)
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<void> {
    await this.sites.remove(id, expected);
  }
}
