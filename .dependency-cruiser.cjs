/**
 * Dependency rules for src/, checked by `npm run lint` (and so by `npm test`).
 *
 * Layers, lowest first:
 *   config, common      cross-cutting: validated environment, errors, logging, http, crypto, limits
 *   database, broker    infrastructure: Postgres sessions and locks, the RabbitMQ management/AMQP clients
 *   feature folders     sites, clusters, links, policies, overflow, probes, audit, auth, ...
 *   reconciliation      compile -> observe -> diff -> apply over the features' registry rows
 *   src/*.ts            composition: app.module, main, bootstrap, the entity list
 * A folder may depend on folders of its own layer or below, never upwards, and no folders form a cycle.
 * Rules name folders, not files, so new files fall under them without edits here.
 */
const features =
  '^src/(sites|clusters|links|policies|overflow|probes|audit|auth|load-balancers|observation|definitions|metrics|health|reconciliation)/';

module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment:
        'Folders form a directed acyclic graph: two folders never depend on each other, directly or not.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycles',
      comment: 'No file depends on itself through others.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'common-is-feature-free',
      comment:
        'common/ holds cross-cutting code (errors, logging, http, crypto, limits); it must not know any feature, ' +
        'auth included: features depend on common, never the other way round.',
      severity: 'error',
      from: { path: '^src/common/' },
      to: { path: [features, '^src/(database|broker)/', '^src/[^/]+\\.ts$'] },
    },
    {
      name: 'config-is-a-leaf',
      comment: 'config/ validates the environment; it depends on nothing else in src/.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/config/' },
    },
    {
      name: 'infrastructure-is-feature-free',
      comment:
        'database/ and broker/ serve the features; the entity list that names them lives in src/entities.ts.',
      severity: 'error',
      from: { path: '^src/(database|broker)/' },
      to: { path: [features, '^src/[^/]+\\.ts$'] },
    },
    {
      name: 'probes-not-to-reconciliation',
      comment:
        'The reconciler compiles probe objects from probe paths (reconciliation -> probes); probes never reach ' +
        'back into reconciliation. Shared shapes live with the lower folder.',
      severity: 'error',
      from: { path: '^src/probes/' },
      to: { path: '^src/reconciliation/' },
    },
    {
      name: 'audit-not-to-auth',
      comment:
        'The audit trail sits below auth: token management audits its changes (auth -> audit). Audit needs ' +
        'only the actor model and the access decorators, which live in common/.',
      severity: 'error',
      from: { path: '^src/audit/' },
      to: { path: '^src/auth/' },
    },
    {
      name: 'features-not-to-composition',
      comment:
        'Only entry points import the composition root (app.module, main, bootstrap, entities).',
      severity: 'error',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    // Placeholder for the repositories rule (raw SQL only in *.repository.ts files); that check is
    // added with the repositories themselves. Left here so the rules stay in one place:
    // {
    //   name: 'sql-only-in-repositories',
    //   ...
    // },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|coverage)/' },
    // Type-only imports are dependencies too: `import type { Actor } from '../auth/roles'` ties folders.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Specs are part of their folder: a spec importing a higher folder is a dependency like any other.
  },
};
