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
import { ApiTags } from '@nestjs/swagger';
import type { Page } from '../common/http/pagination';
import { PageQueryDto } from '../common/http/pagination';
import { RequireRole } from '../common/access/access.decorators';
import { CreatedTokenView, CreateTokenDto, TokenView } from './tokens.dto';
import { TokensService } from './tokens.service';

@ApiTags('tokens')
@RequireRole('admin')
@Controller('tokens')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  /** Creates a token; the response carries the secret, which is never shown again. */
  @Post()
  create(@Body() dto: CreateTokenDto): Promise<CreatedTokenView> {
    return this.tokens.create(dto);
  }

  @Get()
  list(@Query() query: PageQueryDto): Promise<Page<TokenView>> {
    return this.tokens.list(query);
  }

  @Get(':id')
  get(@Param('id', ParseUUIDPipe) id: string): Promise<TokenView> {
    return this.tokens.get(id);
  }

  /** Revokes the token (kept for the record, no longer accepted). */
  @Delete(':id')
  @HttpCode(200)
  revoke(@Param('id', ParseUUIDPipe) id: string): Promise<TokenView> {
    return this.tokens.revoke(id);
  }
}
