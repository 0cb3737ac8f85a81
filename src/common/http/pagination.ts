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

/**
 * A response body Postgres already serialised, sent as it is (with the headers `res.json` sets):
 * no entity hydration, no Date objects, no JSON.stringify of rows in the service.
 */
export class JsonText<T> {
  /** The type the text is the JSON of (for readers and the compiler; never set). */
  declare readonly of?: T;

  constructor(readonly text: string) {}

  /** Should it ever be serialised again (JSON.stringify), it stays the same JSON. */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/** `to_char` pattern giving what `Date.prototype.toISOString` gives for a timestamptz column. */
export function isoTimestamp(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

export interface JsonPageSpec {
  /** `FROM` clause with the alias whose `seq` orders the list, e.g. `sites s`. */
  from: string;
  alias: string;
  /** The view's columns, in the view's key order (`s.name`, `s.expected_rtt_ms AS "expectedRttMs"`). */
  columns: string;
  /** Conditions (joined with AND) and their parameters ($1, $2, ...). */
  where?: string[];
  params?: unknown[];
}

/**
 * `paginate` with Postgres building the JSON: one query, each row serialised by `row_to_json`,
 * the page put together as text. Same pages, same cursors, same JSON as `paginate` with a view.
 */
export async function paginateJson<T>(
  run: (sql: string, params: unknown[]) => Promise<unknown>,
  spec: JsonPageSpec,
  query: PageQueryDto,
): Promise<JsonText<Page<T>>> {
  const limit = query.limit ?? defaultPageSize;
  const params = [...(spec.params ?? [])];
  const where = [...(spec.where ?? [])];
  if (query.cursor) {
    params.push(decodeCursor(query.cursor));
    where.push(`${spec.alias}.seq > $${params.length}`);
  }
  params.push(limit + 1);
  const rows = (await run(
    `SELECT ${spec.alias}.seq, row_to_json(v)::text AS json
       FROM ${spec.from} CROSS JOIN LATERAL (SELECT ${spec.columns}) v
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${spec.alias}.seq ASC LIMIT $${params.length}`,
    params,
  )) as { seq: string; json: string }[];
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const next = more ? JSON.stringify(encodeCursor(page[page.length - 1].seq)) : 'null';
  return new JsonText(`{"items":[${page.map((r) => r.json).join(',')}],"nextCursor":${next}}`);
}
