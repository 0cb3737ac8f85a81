// Three projects: unit specs beside the code (the fast tier), e2e specs against real Postgres and
// RabbitMQ, and the soak tier: the long e2e specs, named by the patterns below. Every spec belongs
// to exactly one project, so `npm test` (all three) runs each once.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      target: 'es2022',
      keepClassNames: true,
    },
  },
];
// Matched against the spec path (jest testPathIgnorePatterns syntax).
const soak = [
  '/test/e2e/faults-[^/]*\\.e2e-spec\\.ts$',
  '/test/e2e/process-[^/]*\\.e2e-spec\\.ts$',
  '/test/e2e/[^/]*-wan\\.e2e-spec\\.ts$',
  '/test/e2e/(probes|probe-isolation|overflow|link-user-rotation|sites-script|demo-restart|db-outage|reconcile-follow-up|tls)\\.e2e-spec\\.ts$',
];

module.exports = {
  // Global (not per project): e2e tests and hooks wait on real brokers.
  testTimeout: 120000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      rootDir: __dirname,
      testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
      transform: { '^.+\\.ts$': swc },
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      testPathIgnorePatterns: soak,
      transform: { '^.+\\.ts$': swc },
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
    {
      // The long e2e specs (fault injection, process kills, WAN latency, soaks): `npm run test:soak`.
      displayName: 'soak',
      testEnvironment: 'node',
      rootDir: __dirname,
      testRegex: soak,
      transform: { '^.+\\.ts$': swc },
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
  ],
};
