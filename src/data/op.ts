import type { Row } from '../db/db.js';

// A named operation: one fixed SQL statement under a name. payserv's code hands the database only
// these, so the same call runs in process (the statement's text) or through dbgw (the name alone):
// no caller of dbgw ever sends SQL text, a table or a column name, only a name from the catalog
// (src/data/catalog.ts) and parameters, which are bound, never spliced.

export interface Op<T extends Row = Row> {
  readonly name: string;
  readonly sql: string;
  /** How many parameters ($1..$n) the statement takes: a call with another number is refused. */
  readonly arity: number;
  /** Carries the row type only. */
  readonly row?: T;
}

const NAME = /^[a-z][a-zA-Z]*(\.[a-z][a-zA-Z]*)+$/;

export function op<T extends Row = Row>(name: string, sql: string): Op<T> {
  if (!NAME.test(name)) throw new Error(`operation name ${JSON.stringify(name)} is not area.verb form`);
  const numbers = [...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
  const arity = numbers.length ? Math.max(...numbers) : 0;
  return Object.freeze({ name, sql, arity });
}

export function isOp(x: unknown): x is Op {
  return typeof x === 'object' && x !== null && typeof (x as Op).name === 'string' && typeof (x as Op).sql === 'string' && typeof (x as Op).arity === 'number';
}
