// pscli run in this process, its output captured: what an operator's terminal would show.
import { main as pscli } from '../../src/cli/pscli.js';
import { fileURLToPath } from 'node:url';
import type { Env } from '../../src/config/load.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runPscli(argv: string[], env: Env = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await pscli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
  return { code, stdout, stderr };
}

/** pscli's explicit opt-in to the embedded database (its pglite runs): [database] embedded = true. */
export const EMBEDDED: Env = { PAYSERV_CONFIG: fileURLToPath(new URL('../fixtures/pscli-embedded.toml', import.meta.url)) };
