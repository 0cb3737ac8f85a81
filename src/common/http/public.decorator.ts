import { applyDecorators, SetMetadata } from '@nestjs/common';

export const isPublicKey = 'crossdock:public';

/**
 * Marks a route as served without an API token (health probes, metrics, API docs); the OpenAPI
 * document then shows it without a security requirement.
 */
export const Public = (): ClassDecorator & MethodDecorator =>
  applyDecorators(SetMetadata(isPublicKey, true), SetMetadata('swagger/apiSecurity', []));
