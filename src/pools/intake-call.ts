// Both adapters write the ledger only through the intake's own calls, in-process: the parameter schema the
// intake's JSON-RPC server applies, the same handlers, the same refusals. A refusal is an answer the adapter
// acts on (its code decides: wait, or alert). Parameters the schema rejects are the adapter's bug: it checks
// every pool value before it builds a call, so a value the pool got wrong is a PoolFormatError, never this.

import { INTAKE_METHODS, type IntakeMethod } from '../api/intake.js';
import { refusalCodeOf } from '../api/jsonrpc.js';
import type { Intake } from '../intake/context.js';
import { dispatchIntake } from '../intake/handlers.js';
import { PoolFormatError } from './errors.js';

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

const BLOCK_HASH = INTAKE_METHODS['Blocks.Credit'].shape.hash;
const HEIGHT = INTAKE_METHODS['Blocks.Credit'].shape.height;
const ADDRESS = INTAKE_METHODS['Wallets.Register'].shape.address;

/** A pool's block hash the intake's own schema takes; any other is the pool's format problem, never an AdapterBug. */
export function intakeBlockHash(hash: string, what: string): string {
  if (!BLOCK_HASH.safeParse(hash).success) throw new PoolFormatError(what, hash, 'not 64 hex digits (0x optional)');
  return hash;
}

/** A pool's block height as Blocks.Credit takes it (the chain's must then be the same); any other is a PoolFormatError. */
export function intakeHeight(height: string, what: string): number {
  const n = Number(height);
  if (!Number.isSafeInteger(n) || !HEIGHT.safeParse(n).success) throw new PoolFormatError(what, height, 'not a block height');
  return n;
}

/**
 * A miner's address as a string the pool could have written (Wallets.Register's schema bound); any other is a
 * PoolFormatError. Whether the coin can pay to it is the wallet's question (src/pools/miner-wallet.ts), not the block's.
 */
export function intakeAddress(address: string, what: string): string {
  if (!ADDRESS.safeParse(address).success) throw new PoolFormatError(what, address, 'not 1 to 128 characters');
  return address;
}
