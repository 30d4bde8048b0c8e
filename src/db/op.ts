import type { Row } from './db.js';

// A named operation: one fixed SQL statement under a name. payserv's code hands the database only
// these, so the same call runs in process (the statement's text) or through dbgw (the name alone):
// no caller of dbgw ever sends SQL text, a table or a column name, only a name from the catalog
// (src/data/catalog.ts) and parameters, which are bound, never spliced.

export interface Op<T extends Row = Row> {
  readonly name: string;
  readonly sql: string;
  /** How many parameters ($1..$n) the statement takes: a call with another number is refused. */
  readonly arity: number;
  /** A plain SELECT that writes nothing and takes no lock: what pscli's checks may run through dbgw. */
  readonly readOnly: boolean;
  /** Carries the row type only. */
  readonly row?: T;
}

const NAME = /^[a-z][a-zA-Z]*(\.[a-z][a-zA-Z]*)+$/;
/** Anything in a SELECT that writes or locks (conservative: a column named like these would only make an operation payserv's alone). */
const WRITES_OR_LOCKS =
  /\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|FOR\s+(NO\s+KEY\s+)?UPDATE|FOR\s+(KEY\s+)?SHARE|nextval|setval|pg_\w*advisory\w*|set_config)\b/i;

export function op<T extends Row = Row>(name: string, sql: string): Op<T> {
  if (!NAME.test(name)) throw new Error(`operation name ${JSON.stringify(name)} is not area.verb form`);
  const numbers = [...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
  const arity = numbers.length ? Math.max(...numbers) : 0;
  const readOnly = /^\s*SELECT\b/i.test(sql) && !WRITES_OR_LOCKS.test(sql);
  return Object.freeze({ name, sql, arity, readOnly });
}

export function isOp(x: unknown): x is Op {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as Op).name === 'string' &&
    typeof (x as Op).sql === 'string' &&
    typeof (x as Op).arity === 'number'
  );
}
