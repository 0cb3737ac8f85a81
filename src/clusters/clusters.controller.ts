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
  Put,
  Query,
} from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { ApiIfMatch, IfMatchVersion } from '../common/http/if-match.decorator';
import { PageQueryDto, type Page } from '../common/http/pagination';
import {
  ClusterQueryDto,
  ClusterView,
  CreateClusterDto,
  CredentialsDto,
  AddNodeDto,
  NodeView,
  UpdateClusterDto,
  UpdateNodeDto,
} from './clusters.dto';
import { ClustersService } from './clusters.service';
import { LinkUserView } from './link-users.dto';
import { LinkUsersService } from './link-users.service';
import { NodesService } from './nodes.service';

@ApiTags('clusters')
@RequireRole('admin')
@Controller('clusters')
export class ClustersController {
  constructor(
    private readonly clusters: ClustersService,
    private readonly nodes: NodesService,
    private readonly linkUsers: LinkUsersService,
  ) {}

  @Post()
  create(@Body() dto: CreateClusterDto): Promise<ClusterView> {
    return this.clusters.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  list(@Query() query: ClusterQueryDto): Promise<Page<ClusterView>> {
    return this.clusters.list(query);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@Param('id', ParseUUIDPipe) id: string): Promise<ClusterView> {
    return this.clusters.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  update(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateClusterDto,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<ClusterView> {
    return this.clusters.update(id, dto, expected);
  }

  /** Replaces the admin credentials (write-only: responses never carry them). */
  @Put(':id/credentials')
  @ApiIfMatch()
  setCredentials(
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: CredentialsDto,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<ClusterView> {
    return this.clusters.setCredentials(id, dto, expected);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiIfMatch()
  async remove(
    @Param('id', ParseUUIDPipe) id: string,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<void> {
    await this.clusters.remove(id, expected);
  }

  /** Who other clusters log in as and the latest password rotation (never a password). */
  @Get(':id/link-user')
  @RequireRole('viewer')
  @ApiOkResponse({ type: LinkUserView })
  linkUser(@Param('id', ParseUUIDPipe) id: string): Promise<LinkUserView> {
    return this.linkUsers.status(id);
  }

  /**
   * Rotates the link user's password without breaking links: the cluster's next passes write a
   * second user, prove it with an AMQP login, switch every URI to it, and delete the previous
   * user once every connecting cluster applied the switch. Progress: GET .../link-user.
   */
  @Post(':id/link-user/rotate')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: LinkUserView, description: 'Rotation started (status verifying)' })
  rotateLinkUser(@Param('id', ParseUUIDPipe) id: string): Promise<LinkUserView> {
    return this.linkUsers.rotate(id);
  }

  @Get(':id/nodes')
  @RequireRole('viewer')
  listNodes(
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: PageQueryDto,
  ): Promise<Page<NodeView>> {
    return this.nodes.list(id, query);
  }

  @Get(':id/nodes/:nodeId')
  @RequireRole('viewer')
  getNode(
    @Param('id', ParseUUIDPipe) id: string,
    @Param('nodeId', ParseUUIDPipe) nodeId: string,
  ): Promise<NodeView> {
    return this.nodes.get(id, nodeId);
  }

  @Post(':id/nodes')
  addNode(@Param('id', ParseUUIDPipe) id: string, @Body() dto: AddNodeDto): Promise<NodeView> {
    return this.nodes.add(id, dto);
  }

  @Patch(':id/nodes/:nodeId')
  @ApiIfMatch()
  updateNode(
    @Param('id', ParseUUIDPipe) id: string,
    @Param('nodeId', ParseUUIDPipe) nodeId: string,
    @Body() dto: UpdateNodeDto,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<NodeView> {
    return this.nodes.update(id, nodeId, dto, expected);
  }

  @Delete(':id/nodes/:nodeId')
  @HttpCode(204)
  @ApiIfMatch()
  async removeNode(
    @Param('id', ParseUUIDPipe) id: string,
    @Param('nodeId', ParseUUIDPipe) nodeId: string,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<void> {
    await this.nodes.remove(id, nodeId, expected);
  }
}
