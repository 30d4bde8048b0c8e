// Which database back end this vitest project runs against (set per project in vitest.config.ts).
import { describe } from 'vitest';
import { backend } from './env.js';

export { backend, DEFAULT_TEST_PG_URL, testPgUrl, type Backend } from './env.js';

/**
 * For tests that touch no database: the whole suite runs once per back end, and these would only
 * run twice for nothing, so they run under the pglite project alone (reported as skipped under postgres).
 */
export const describeOncePerSuite: typeof describe = backend() === 'pglite' ? describe : (describe.skip as typeof describe);

/**
 * For the payserv tests too heavy to run three times (chains): in process on PGlite, and through dbgw
 * (the dbgw project, PostgreSQL behind it); skipped under the postgres project.
 */
export const describePerDataPath: typeof describe =
  backend() === 'pglite' || process.env.PAYSERV_TEST_DATA === 'dbgw' ? describe : (describe.skip as typeof describe);
