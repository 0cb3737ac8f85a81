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
import {
  ApiAcceptedResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { RequireRole } from '../common/access/access.decorators';
import { ApiIfMatch, IfMatchVersion } from '../common/http/if-match.decorator';
import { PageQueryDto, type Page } from '../common/http/pagination';
import { CredentialsDto } from './cluster-credentials.dto';
import { ClusterQueryDto, ClusterView, CreateClusterDto, UpdateClusterDto } from './clusters.dto';
import { AddNodeDto, NodeView, UpdateNodeDto } from './nodes.dto';
import { ClustersService } from './clusters.service';
import { LinkUserView } from './link-users.dto';
import { LinkUsersService } from './link-users.service';
import { NodesService } from './nodes.service';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';
import { ErrorCode } from '../common/errors/error-codes';

@ApiTags('clusters')
@RequireRole('admin')
@ApiTokenProblems()
@Controller('clusters')
export class ClustersController {
  constructor(
    private readonly clusters: ClustersService,
    private readonly nodes: NodesService,
    private readonly linkUsers: LinkUsersService,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Register a cluster',
    description:
      'Registers a RabbitMQ cluster of a site: its nodes (management and AMQP endpoints), admin credentials (write-only, stored encrypted), vhosts and link endpoints. The cluster is observed and reconciled in the background; see GET /clusters/{id}/observation.',
  })
  @ApiCreatedResponse({ type: ClusterView, description: 'The new cluster' })
  @ApiBodyProblems()
  @ApiProblems(ErrorCode.DuplicateName, ErrorCode.ReferenceNotFound)
  create(@Body() dto: CreateClusterDto): Promise<ClusterView> {
    return this.clusters.create(dto);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List clusters',
    description:
      'Clusters in registration order, one page at a time; filter by `?name=`, `?siteId=` or `?site=` (a site id or name).',
  })
  @ApiPage(ClusterView)
  @ApiProblems(400)
  list(@Query() query: ClusterQueryDto): Promise<Page<ClusterView>> {
    return this.clusters.list(query);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get a cluster',
    description:
      'The cluster with its nodes, the last observed broker version, warnings and, while reconcile passes stop at the mass-delete guard, `deleteBlocked`. Never carries a password.',
  })
  @ApiOkResponse({ type: ClusterView })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<ClusterView> {
    return this.clusters.get(id);
  }

  @Patch(':id')
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Change a cluster',
    description:
      'Changes the fields sent. Changing a management endpoint or scheme needs the admin credentials again (409 credentials-rebind-required, or send them in the same request).',
  })
  @ApiOkResponse({ type: ClusterView })
  @ApiBodyProblems()
  @ApiProblems(404, ErrorCode.DuplicateName, ErrorCode.CredentialsRebindRequired, 412)
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
  @ApiOperation({
    summary: 'Replace the admin credentials',
    description:
      'Replaces the admin username and password crossdock uses on the management API (write-only: no response carries them) and triggers a reconcile pass.',
  })
  @ApiOkResponse({ type: ClusterView })
  @ApiBodyProblems()
  @ApiProblems(404, 412)
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
  @ApiOperation({
    summary: 'Delete a cluster',
    description:
      'Only a cluster no link, shovel, overflow rule or cluster-scoped policy refers to can be deleted (409 otherwise).',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, ErrorCode.DependentsExist, 412)
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
  @ApiOperation({
    summary: 'Get the link user',
    description:
      'Who other clusters log in as (the user in their federation and shovel URIs) and the latest password rotation with its progress. Never carries a password.',
  })
  @ApiProblems(400, 404)
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
  @ApiOperation({
    summary: "Rotate the link user's password",
    description:
      "Starts a rotation that does not break links: the cluster's next passes write a second user, prove it with an AMQP login, switch every URI to it, and delete the previous user once every connecting cluster applied the switch. Follow it with GET /clusters/{id}/link-user.",
  })
  @ApiProblems(400, 404, ErrorCode.Conflict)
  rotateLinkUser(@Param('id', ParseUUIDPipe) id: string): Promise<LinkUserView> {
    return this.linkUsers.rotate(id);
  }

  @Get(':id/nodes')
  @RequireRole('viewer')
  @ApiOperation({
    summary: "List a cluster's nodes",
    description: 'The nodes declared for the cluster, one page at a time.',
  })
  @ApiPage(NodeView)
  @ApiProblems(400, 404)
  listNodes(
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: PageQueryDto,
  ): Promise<Page<NodeView>> {
    return this.nodes.list(id, query);
  }

  @Get(':id/nodes/:nodeId')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Get a node',
    description: 'One declared node of the cluster.',
  })
  @ApiOkResponse({ type: NodeView })
  @ApiProblems(400, 404)
  getNode(
    @Param('id', ParseUUIDPipe) id: string,
    @Param('nodeId', ParseUUIDPipe) nodeId: string,
  ): Promise<NodeView> {
    return this.nodes.get(id, nodeId);
  }

  @Post(':id/nodes')
  @ApiOperation({
    summary: 'Add a node',
    description:
      'Declares another node of the cluster. A new management endpoint needs the admin credentials to be entered again before crossdock uses them.',
  })
  @ApiCreatedResponse({ type: NodeView, description: 'The new node' })
  @ApiBodyProblems()
  @ApiProblems(404, ErrorCode.Conflict)
  addNode(@Param('id', ParseUUIDPipe) id: string, @Body() dto: AddNodeDto): Promise<NodeView> {
    return this.nodes.add(id, dto);
  }

  @Patch(':id/nodes/:nodeId')
  @ApiIfMatch()
  @ApiOperation({
    summary: 'Change a node',
    description: 'Changes the fields sent of one declared node.',
  })
  @ApiOkResponse({ type: NodeView })
  @ApiBodyProblems()
  @ApiProblems(404, ErrorCode.Conflict, 412)
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
  @ApiOperation({
    summary: 'Remove a node',
    description: 'Removes a declared node; the last node of a cluster cannot be removed (409).',
  })
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiProblems(400, 404, ErrorCode.Conflict, 412)
  async removeNode(
    @Param('id', ParseUUIDPipe) id: string,
    @Param('nodeId', ParseUUIDPipe) nodeId: string,
    @IfMatchVersion() expected: number | undefined,
  ): Promise<void> {
    await this.nodes.remove(id, nodeId, expected);
  }
}
