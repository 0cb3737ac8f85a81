import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { expectedVersion } from './etag';

/** The version named by an optional If-Match header (undefined when absent or `*`). */
export const IfMatchVersion = createParamDecorator(
  (_d: unknown, ctx: ExecutionContext): number | undefined => {
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    return expectedVersion(req.headers['if-match']);
  },
);

/** Documents the optional If-Match header of a versioned write. */
export const ApiIfMatch = (): MethodDecorator =>
  ApiHeader({
    name: 'If-Match',
    required: false,
    description: 'ETag from a previous read; 412 if stale',
  });
