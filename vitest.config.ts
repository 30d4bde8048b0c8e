// The whole suite runs twice, once per database back end; each project tells its tests which via
// PAYSERV_TEST_BACKEND (see test/support/backend.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A 2-core machine running PGlite (WASM PostgreSQL) and a real server at once: generous, not infinite.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        extends: true,
        test: {
          name: 'pglite',
          env: { PAYSERV_TEST_BACKEND: 'pglite' },
          globalSetup: ['test/support/global-pglite.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          env: { PAYSERV_TEST_BACKEND: 'postgres' },
          globalSetup: ['test/support/global-postgres.ts'],
        },
      },
    ],
  },
});
