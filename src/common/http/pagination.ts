import { Optional } from '../dto/validators';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import type { SelectQueryBuilder, ObjectLiteral } from 'typeorm';
import { DomainException } from '../errors/domain.exception';

export const defaultPageSize = 50;
export const maxPageSize = 200;

/** `?limit=&cursor=`: every list endpoint pages by an opaque cursor over the row's bigint seq. */
export class PageQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: maxPageSize, default: defaultPageSize })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(maxPageSize)
  limit?: number;

  @ApiPropertyOptional({ description: 'Opaque cursor from a previous page (`nextCursor`)' })
  @Optional()
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor is not a cursor this API issued' })
  cursor?: string;
}

/** `?name=`: the one resource with exactly this name (names are unique), as a list. */
export class NamedPageQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Only the resource with exactly this name' })
  @Optional()
  @IsString()
  @MaxLength(255)
  name?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function encodeCursor(seq: string): string {
  return Buffer.from(`s:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^s:(\d{1,19})$/.exec(text);
  if (!m) {
    throw DomainException.validation([
      { field: 'query.cursor', message: 'cursor is not a cursor this API issued' },
    ]);
  }
  return m[1];
}

/** Applies keyset pagination (seq ascending) and returns one page plus the next cursor. */
export async function paginate<E extends ObjectLiteral & { seq: string }, T>(
  qb: SelectQueryBuilder<E>,
  query: PageQueryDto,
  map: (row: E) => T,
): Promise<Page<T>> {
  const limit = query.limit ?? defaultPageSize;
  const alias = qb.alias;
  if (query.cursor)
    qb.andWhere(`${alias}.seq > :afterSeq`, { afterSeq: decodeCursor(query.cursor) });
  const rows = await qb
    .orderBy(`${alias}.seq`, 'ASC')
    .take(limit + 1)
    .getMany();
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  return {
    items: page.map(map),
    nextCursor: more ? encodeCursor(page[page.length - 1].seq) : null,
  };
}
