// Which database back end this vitest project runs against (set per project in vitest.config.ts).
import { describe } from 'vitest';
import { backend } from './env.js';

export { backend, DEFAULT_TEST_PG_URL, testPgUrl, type Backend } from './env.js';

/**
 * For tests that touch no database: the whole suite runs once per back end, and these would only
 * run twice for nothing, so they run under the pglite project alone (reported as skipped under postgres).
 */
export const describeOncePerSuite: typeof describe = backend() === 'pglite' ? describe : (describe.skip as typeof describe);
