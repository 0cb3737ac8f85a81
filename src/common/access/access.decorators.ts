import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Actor, Role } from './actor';

export const requiredRoleKey = 'crossdock:required-role';

/**
 * The least role a route needs. Undecorated routes need `viewer` for reads and `admin` for
 * writes, so a forgotten decorator fails closed.
 */
export const RequireRole = (role: Role): ClassDecorator & MethodDecorator =>
  SetMetadata(requiredRoleKey, role);

export const CurrentActor = createParamDecorator((_data: unknown, ctx: ExecutionContext): Actor => {
  const req = ctx.switchToHttp().getRequest<{ actor?: Actor }>();
  if (!req.actor) throw new Error('CurrentActor used on a public route');
  return req.actor;
});
