import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
} from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Page } from '../common/http/pagination';
import { PageQueryDto } from '../common/http/pagination';
import { RequireRole } from '../common/access/access.decorators';
import { CreatedTokenView, CreateTokenDto, TokenView } from './tokens.dto';
import { TokensService } from './tokens.service';
import {
  ApiBodyProblems,
  ApiPage,
  ApiProblems,
  ApiTokenProblems,
} from '../common/openapi/api-responses';

@ApiTags('tokens')
@RequireRole('admin')
@ApiTokenProblems()
@Controller('tokens')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  /** Creates a token; the response carries the secret, which is never shown again. */
  @Post()
  @ApiOperation({
    summary: 'Create an API token',
    description:
      'Creates a token with a role (viewer < operator < admin) and an optional expiry. The response carries the secret (`cdk_...`) once; only a hash is stored, so it cannot be shown again.',
  })
  @ApiCreatedResponse({ type: CreatedTokenView, description: 'The token, with its secret' })
  @ApiBodyProblems()
  create(@Body() dto: CreateTokenDto): Promise<CreatedTokenView> {
    return this.tokens.create(dto);
  }

  @Get()
  @ApiOperation({
    summary: 'List API tokens',
    description:
      'Tokens in creation order, revoked and expired ones included; never their secrets.',
  })
  @ApiPage(TokenView)
  @ApiProblems(400)
  list(@Query() query: PageQueryDto): Promise<Page<TokenView>> {
    return this.tokens.list(query);
  }

  @Get(':id')
  @ApiOperation({
    summary: 'Get an API token',
    description:
      'One token: name, role, public prefix, expiry, revocation and last use; never its secret.',
  })
  @ApiOkResponse({ type: TokenView })
  @ApiProblems(400, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<TokenView> {
    return this.tokens.get(id);
  }

  /** Revokes the token (kept for the record, no longer accepted). */
  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Revoke an API token',
    description:
      'The token is no longer accepted from now on; it stays listed (with `revokedAt`) for the record. Revoking a revoked token changes nothing.',
  })
  @ApiOkResponse({ type: TokenView, description: 'The revoked token' })
  @ApiProblems(400, 404)
  revoke(@Param('id', ParseUUIDPipe) id: string): Promise<TokenView> {
    return this.tokens.revoke(id);
  }
}
