/** Every TypeORM entity, listed explicitly so the app, CLI and tests load the same set. */
export const entities: Function[] = [];
