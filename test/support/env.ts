// The test environment as vitest.config.ts sets it. No vitest import here: global setup files use this too,
// and they run outside any test worker.

export type Backend = 'pglite' | 'postgres';

export function backend(): Backend {
  const b = process.env.PAYSERV_TEST_BACKEND ?? 'pglite';
  if (b !== 'pglite' && b !== 'postgres') throw new Error(`PAYSERV_TEST_BACKEND must be pglite or postgres, not ${b}`);
  return b;
}

export const DEFAULT_TEST_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function testPgUrl(): string {
  return process.env.PAYSERV_TEST_PG_URL || DEFAULT_TEST_PG_URL;
}
