import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { expectedVersion } from './etag';

/** The version named by an optional If-Match header (undefined when absent or `*`). */
export const IfMatchVersion = createParamDecorator(
  (_d: unknown, ctx: ExecutionContext): number | undefined => {
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    return expectedVersion(req.headers['if-match']);
  },
);
