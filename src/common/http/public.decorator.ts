import { SetMetadata } from '@nestjs/common';

export const isPublicKey = 'crossdock:public';

/** Marks a route as served without an API token (health probes, metrics, API docs). */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(isPublicKey, true);
