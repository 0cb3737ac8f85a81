import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RequireRole } from '../common/access/access.decorators';
import { ApiIfMatch, IfMatchVersion } from '../common/http/if-match.decorator';
import { KeepalivedQueryDto, LoadBalancerView, PutLoadBalancerDto } from './load-balancers.dto';
import { LoadBalancersService, type RenderedFile } from './load-balancers.service';

/** Sends a rendered file with its ETag; 304 when the caller already holds these bytes. */
function sendFile(res: Response, file: RenderedFile, ifNoneMatch: string | undefined): void {
  res.setHeader('ETag', file.etag);
  res.setHeader('Cache-Control', 'no-cache');
  const held = (ifNoneMatch ?? '').split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (held.includes(file.etag) || held.includes('*')) {
    res.status(304).end();
    return;
  }
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.status(200).send(file.body);
}

@ApiTags('sites')
@RequireRole('admin')
@Controller('sites/:id/load-balancer')
export class LoadBalancersController {
  constructor(private readonly lbs: LoadBalancersService) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: "The site's load balancer (HAProxy + keepalived)" })
  @ApiOkResponse({ type: LoadBalancerView })
  get(@Param('id', ParseUUIDPipe) id: string): Promise<LoadBalancerView> {
    return this.lbs.get(id);
  }

  @Put()
  @ApiIfMatch()
  @ApiOperation({
    summary: "Create or replace the site's load balancer",
    description:
      "Also sets the site's loadBalancer endpoint (what other sites' link URIs use) to the address and AMQP port.",
  })
  @ApiOkResponse({ type: LoadBalancerView })
  put(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: PutLoadBalancerDto,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<LoadBalancerView> {
    return this.lbs.put(id, dto, expected);
  }

  @Delete()
  @HttpCode(204)
  @ApiIfMatch()
  @ApiOperation({
    summary: "Remove the site's load balancer model",
    description: "The site's loadBalancer endpoint and so every link URI stay as they are.",
  })
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<void> {
    await this.lbs.remove(id, expected);
  }

  @Get('haproxy.cfg')
  @RequireRole('viewer')
  @ApiProduces('text/plain')
  @ApiOperation({
    summary: 'haproxy.cfg rendered from the registry',
    description:
      'AMQP and management front ends with health-checked backends from the cluster nodes. Strong ETag: poll with If-None-Match (304 while unchanged).',
  })
  async haproxy(
    @Param('id', ParseUUIDPipe) id: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    sendFile(res, await this.lbs.haproxyConfig(id), ifNoneMatch);
  }

  @Get('keepalived.conf')
  @RequireRole('viewer')
  @ApiProduces('text/plain')
  @ApiOperation({
    summary: 'keepalived.conf for one load-balancer host',
    description:
      'One VRRP instance holding the virtual IP, unicast to the other hosts, tracking the HAProxy process. `host` is required when there are several hosts.',
  })
  async keepalived(
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: KeepalivedQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    sendFile(res, await this.lbs.keepalivedConfig(id, query.host), ifNoneMatch);
  }
}
