// Global setup of the postgres project: the server must answer, or the project fails here with one
// clear message. A skipped back end would let a postgres-only bug land green.
import pg from 'pg';
import { redactUrl } from '../../src/db/db.js';
import { testPgUrl } from './env.js';

export default async function setup(): Promise<void> {
  const url = testPgUrl();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (e) {
    throw new Error(
      `postgres test project: cannot reach PostgreSQL at ${redactUrl(url)} (${(e as Error).message}). ` +
        'Start it (.ci/run does) or set PAYSERV_TEST_PG_URL to a server where this user may CREATE DATABASE.',
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
