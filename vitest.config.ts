// The database suite runs twice, once per database back end; each project tells its tests which via
// PAYSERV_TEST_BACKEND (see test/support/backend.ts). A third project runs the payserv suite with
// payserv's data access through dbgw (PAYSERV_TEST_DATA, see test/support/dbgw.ts). Tests that touch no
// database live in test/unit/ and run once, in the `unit` project, with no setup; they spawn nothing but
// a chain node of their own where a real one is the point (btc-node.test.ts: litecoind, stopped after it).
import { configDefaults, defineConfig } from 'vitest/config';

const UNIT = 'test/unit/**';

export default defineConfig({
  test: {
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
          name: 'unit',
          include: [`${UNIT}/*.test.ts`],
        },
      },
      {
        extends: true,
        test: {
          name: 'pglite',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, UNIT],
          env: { PAYSERV_TEST_BACKEND: 'pglite' },
          globalSetup: ['test/support/global-build.ts', 'test/support/global-pglite.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, UNIT],
          env: { PAYSERV_TEST_BACKEND: 'postgres' },
          globalSetup: ['test/support/global-build.ts', 'test/support/global-postgres.ts'],
        },
      },
      {
        // The payserv suite again, payserv's data access through a real dbgw in front of PostgreSQL.
        extends: true,
        test: {
          name: 'dbgw',
          include: [
            'test/pay-*.test.ts',
            'test/payserv-*.test.ts',
            'test/cli-payserv.test.ts',
            'test/dbgw-*.test.ts',
            'test/autopay-*.test.ts',
          ],
          env: { PAYSERV_TEST_BACKEND: 'postgres', PAYSERV_TEST_DATA: 'dbgw' },
          globalSetup: ['test/support/global-build.ts', 'test/support/global-postgres.ts'],
        },
      },
    ],
  },
});
