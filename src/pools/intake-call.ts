// Both adapters write the ledger only through the intake's own calls, in-process: the parameter schema the
// intake's JSON-RPC server applies, the same handlers, the same refusals. A refusal is an answer the adapter
// acts on (its code decides: wait, or alert). Parameters the schema rejects are the adapter's bug: it checks
// every pool value before it builds a call, so a value the pool got wrong is a PoolFormatError, never this.

import { INTAKE_METHODS, type IntakeMethod } from '../api/intake.js';
import { refusalCodeOf } from '../api/jsonrpc.js';
import type { Intake } from '../intake/context.js';
import { dispatchIntake } from '../intake/handlers.js';

export type IntakeAnswer<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

/** The adapter built a call the intake's schema rejects: a defect in payserv, not in the pool's data. */
export class AdapterBug extends Error {
  override name = 'AdapterBug';
}

/** One intake call; a refusal comes back as its code, anything else (the database down, a bug) is thrown. */
export async function intakeCall<T>(it: Intake, method: IntakeMethod, params: unknown): Promise<IntakeAnswer<T>> {
  const parsed = INTAKE_METHODS[method].safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AdapterBug(`${method}: the adapter built bad parameters: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  try {
    return { ok: true, value: (await dispatchIntake(it, method, parsed.data)) as T };
  } catch (e) {
    const code = refusalCodeOf(e);
    if (code === null) throw e;
    return { ok: false, code, message: (e as Error).message };
  }
}
