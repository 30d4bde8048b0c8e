// A problem found by verification: one line naming the table, the row and what is wrong.

export interface Problem {
  table: string;
  /** The row: its id, or the key of a keyed row ("user=5 coin=1"). */
  row: string;
  /** Stable, machine-readable kind of problem. */
  code: string;
  detail: string;
}

export function formatProblem(p: Problem): string {
  return `${p.table} ${p.row}: ${p.detail}`;
}

export function problem(table: string, row: string | number, code: string, detail: string): Problem {
  return { table, row: typeof row === 'number' ? `id=${row}` : row, code, detail };
}

export function userKey(userId: number, coinId: number): string {
  return `user=${userId} coin=${coinId}`;
}
