import { Registry1763776800000 } from './1763776800000-Registry';

/** Migrations in order; listed explicitly so ts (tests) and js (dist) load the same set. */
export const migrations = [Registry1763776800000];
