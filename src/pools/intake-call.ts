// The adapter writes the ledger only through the intake's own calls, in-process: the same parameter
// schema the intake's JSON-RPC server applies, the same handlers, the same refusals.

import { INTAKE_METHODS, type IntakeMethod } from '../../api/intake.js';
import type { Intake } from '../../intake/context.js';
import { dispatchIntake } from '../../intake/handlers.js';

export async function intakeCall<T>(it: Intake, method: IntakeMethod, params: unknown): Promise<T> {
  const parsed = INTAKE_METHODS[method].safeParse(params);
  if (!parsed.success) throw new Error(`${method}: the adapter built bad parameters: ${parsed.error.message}`);
  return (await dispatchIntake(it, method, parsed.data)) as T;
}
