// pscli run in this process, its output captured: what an operator's terminal would show.
import { main as pscli } from '../../src/cli/pscli.js';
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
