import { applyDecorators, type Type } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import type { ErrorCode } from '../errors/error-codes';
import {
  problemCatalogue,
  problemExample,
  problemsByStatus,
  statusDescription,
} from './problem-catalogue';
import { ProblemDetailsDto } from './problem-details.dto';

/**
 * The decorators of the API's OpenAPI contract: one that lists the errors an operation can give
 * (problem+json, schema in problem-details.dto.ts, an example per error code from
 * problem-catalogue.ts), and the page envelope of every list.
 */

/** An error an operation can give: a status (its usual codes) or one error code. */
export type ProblemKind = number | ErrorCode;

function statusOf(kind: ProblemKind): number {
  return typeof kind === 'number' ? kind : problemCatalogue[kind].status;
}

/**
 * The problem+json responses an operation (or every operation of a controller) can give, e.g.
 * `@ApiProblems(400, 404, ErrorCode.DuplicateName, ErrorCode.ReferenceNotFound)`: a number
 * stands for its status's usual codes, a code for itself; codes of one status share a response
 * with one example per code.
 */
export function ApiProblems(
  ...kinds: ProblemKind[]
): MethodDecorator & ClassDecorator & PropertyDecorator {
  const grouped = new Map<number, Set<ErrorCode>>();
  for (const kind of kinds) {
    const status = statusOf(kind);
    const codes = typeof kind === 'number' ? (problemsByStatus[kind]?.codes ?? []) : [kind];
    if (codes.length === 0) throw new Error(`ApiProblems: no error code known for ${kind}`);
    const set = grouped.get(status) ?? new Set<ErrorCode>();
    codes.forEach((c) => set.add(c));
    grouped.set(status, set);
  }
  const decorators = [...grouped.entries()].map(([status, codes]) => {
    const onlyUsual =
      problemsByStatus[status] !== undefined &&
      [...codes].every((c) => problemsByStatus[status].codes.includes(c));
    const description = onlyUsual
      ? problemsByStatus[status].description
      : (statusDescription[status] ??
        problemsByStatus[status]?.description ??
        problemCatalogue[[...codes][0]].title);
    return ApiResponse({
      status,
      description,
      content: {
        'application/problem+json': {
          schema: { $ref: getSchemaPath(ProblemDetailsDto) },
          examples: Object.fromEntries(
            [...codes].map((code) => [
              code,
              { summary: problemCatalogue[code].detail, value: problemExample(code) },
            ]),
          ),
        },
      },
    });
  });
  return applyDecorators(ApiExtraModels(ProblemDetailsDto), ...decorators);
}

/** Errors any operation behind a token can give: no valid token, rate limit, database outage. */
export const ApiTokenProblems = (): MethodDecorator & ClassDecorator => ApiProblems(401, 429, 503);

/**
 * Errors of reading a JSON request body, before validation: malformed or over-nested JSON or
 * invalid fields (400), too large (413), not JSON (415).
 */
export const ApiBodyProblems = (): MethodDecorator & ClassDecorator => ApiProblems(400, 413, 415);

/**
 * A list's 200 response: one page `{ items, nextCursor }` of `item`; pass `nextCursor` back as
 * `?cursor=` for the next page (null on the last).
 */
export function ApiPage(item: Type<unknown>, description?: string): MethodDecorator {
  return applyDecorators(
    ApiExtraModels(item),
    ApiResponse({
      status: 200,
      description: description ?? `One page of ${item.name.replace(/(View)?(Dto)?$/, '')} items`,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['items', 'nextCursor'],
            properties: {
              items: { type: 'array', items: { $ref: getSchemaPath(item) } },
              nextCursor: {
                type: 'string',
                nullable: true,
                description: 'Pass as `cursor` for the next page; null on the last page',
              },
            },
          },
        },
      },
    }),
  );
}
