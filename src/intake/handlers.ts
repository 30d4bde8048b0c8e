import { INTAKE_VERSION, intakeRefusal, type IntakeMethod, type IntakeParams } from '../api/intake.js';
import { refusalCodeOf } from '../api/jsonrpc.js';
import { PrecisionError } from '../money/precision.js';
import { INTAKE_ALERT } from './alerts.js';
import { balanceCall } from './balance.js';
import { creditBlockCall } from './blocks.js';
import { registerCoinCall } from './coins.js';
import type { Intake } from './context.js';
import { registerWalletCall, retireWalletCall, signWalletCall } from './wallets.js';
import { requestCall } from './withdrawals.js';

// From a method (allowed for the caller, its params validated) to the code that does it: the whole
// set of things the intake can be asked to do, in one table.

type Handler<M extends IntakeMethod> = (it: Intake, params: IntakeParams<M>) => Promise<unknown> | unknown;

/** One small read: whether the database answers now. */
async function status(it: Intake) {
  let database = 'ok';
  try {
    await it.db.query('SELECT 1');
  } catch (e) {
    database = `unreachable: ${(e as Error).message.split('\n')[0]}`;
  }
  return {
    ...INTAKE_VERSION,
    database,
    review: it.review,
    creditsPerBlockMax: it.creditsPerBlockMax,
    rewardChecks: [...it.checkers.keys()],
  };
}

const HANDLERS: { [M in IntakeMethod]: Handler<M> } = {
  'Coins.Register': registerCoinCall,
  'Wallets.Register': registerWalletCall,
  'Wallets.Sign': signWalletCall,
  'Wallets.Retire': retireWalletCall,
  'Blocks.Credit': creditBlockCall,
  'Withdrawals.Request': requestCall,
  'Balance.Get': (it, p) => balanceCall(it, p),
  'Utils.Version': () => INTAKE_VERSION,
  'Utils.Status': status,
};

/**
 * The writer refuses an amount finer than its coin (src/money/precision.ts): bad input, whichever method wrote it.
 * An integrity refusal is alerted here, whoever called: the pool over JSON-RPC or an adapter in-process.
 */
export async function dispatchIntake(it: Intake, method: IntakeMethod, params: unknown): Promise<unknown> {
  const h = HANDLERS[method] as Handler<IntakeMethod>;
  try {
    return await h(it, params as IntakeParams<IntakeMethod>);
  } catch (e) {
    const out = e instanceof PrecisionError ? intakeRefusal(e.code, e.message) : e;
    if (refusalCodeOf(out) === 'integrity') integrityAlert(it, method, (out as Error).message);
    throw out;
  }
}

/** Rows that do not verify: the ledger may be tampered with. Logged at each refusal, alerted once per call and reason. */
export function integrityAlert(it: Intake, method: string, reason: string): void {
  it.log.error({ method, alert: INTAKE_ALERT.integrity, reason }, 'ALERT: the ledger does not verify: call refused, nothing written');
  it.alerts.once(INTAKE_ALERT.integrity, `${method}: ${reason}`, `${method} refused: ${reason}`, { method });
}
