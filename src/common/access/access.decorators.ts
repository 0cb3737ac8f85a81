import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { METHOD_METADATA } from '@nestjs/common/constants';
import { ApiProblems } from '../openapi/api-responses';
import type { Actor, Role } from '../actor/actor';

export const requiredRoleKey = 'crossdock:required-role';

/** Every token is at least a viewer, so only operator and admin routes can answer 403. */
const forbidden = ApiProblems(403);

/**
 * The least role a route needs. Undecorated routes need `viewer` for reads and `admin` for
 * writes, so a forgotten decorator fails closed. On a controller, the routes without a role of
 * their own get the controller's, and the OpenAPI document lists 403 on exactly those.
 */
export const RequireRole =
  (role: Role): ClassDecorator & MethodDecorator =>
  (target: object, key?: string | symbol, descriptor?: PropertyDescriptor): void => {
    if (descriptor) {
      SetMetadata(requiredRoleKey, role)(target, key as string | symbol, descriptor);
      if (role !== 'viewer') forbidden(target, key as string | symbol, descriptor);
      return;
    }
    SetMetadata(requiredRoleKey, role)(target as () => void);
    if (role === 'viewer') return;
    // Method decorators ran before this one: their own roles are already recorded.
    const proto = (target as { prototype: object }).prototype;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof d?.value !== 'function' || name === 'constructor') continue;
      const isRoute = Reflect.getMetadata(METHOD_METADATA, d.value) !== undefined;
      if (isRoute && Reflect.getMetadata(requiredRoleKey, d.value) === undefined)
        forbidden(proto, name, d);
    }
  };

export const CurrentActor = createParamDecorator((_data: unknown, ctx: ExecutionContext): Actor => {
  const req = ctx.switchToHttp().getRequest<{ actor?: Actor }>();
  if (!req.actor) throw new Error('CurrentActor used on a public route');
  return req.actor;
});
