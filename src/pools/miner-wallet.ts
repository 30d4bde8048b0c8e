// Both adapters' wallet policy: a pool pays a miner to the address it mines with, so that address is registered
// as the miner's wallet and signed (reviewed automatically, whatever [wallets] review says), only for the users of
// a block the intake has credited (a block the chain refuses writes no wallet). A wallet an operator deleted or
// deactivated is never added back, after a restart too: the ledger, not this process's memory, says so. An address
// the coin's validation refuses (a Zcash miner's shielded z-address: MiningCore accepts and pays those) is not
// registered either: the miner's credits are imported all the same, unpaid, and the operator alerted once.

import { sameAddress, validateAddress } from '../chains/address.js';
import { INTAKE_ALERT } from '../intake/alerts.js';
import type { Intake } from '../intake/context.js';
import type { Coin, Signed } from '../ledger/records.js';
import type { Logger } from '../log/index.js';
import { intakeCall, type IntakeAnswer } from './intake-call.js';

export interface MinerWallet {
  /** The adapter's name in logs: "oep", or MiningCore's pool id. */
  pool: string;
  coin: Signed<Coin>;
  user: number;
  address: string;
}

const DONE = { ok: true, value: undefined } as const;

/** Whether an operator retired (deleted or deactivated) this address of the user: one-way, never registered again. */
async function retired(it: Intake, w: MinerWallet): Promise<boolean> {
  const rows = await it.db.query<{ address: string }>(
    'SELECT address FROM users_userwallets WHERE user_id = $1 AND coin_id = $2 AND (deleted OR NOT active)',
    [w.user, w.coin.id],
  );
  return rows.some((r) => sameAddress(w.coin.tag, r.address, w.address));
}

/** An address payserv cannot pay to: logged, alerted once per address, never registered. */
function unpayable(it: Intake, log: Logger, w: MinerWallet, why: string): void {
  const facts = { pool: w.pool, coin: w.coin.tag, user: w.user, address: w.address, reason: why };
  log.warn(facts, 'miner address payserv cannot pay: credits imported, unpaid, no wallet registered');
  it.alerts.once(
    INTAKE_ALERT.unpayableAddress,
    `${w.coin.tag} ${w.pool} miner ${w.address}`,
    `miner address ${w.address}: ${why}: credits imported, unpaid`,
    facts,
  );
}

/**
 * The miner's address as its reviewed wallet, or left retired (or unpayable). `done` holds the addresses this process has
 * settled (registered and reviewed, or found retired): they are not asked again. Idempotent: an address already
 * registered is answered as it is, and signed if it is not reviewed yet.
 */
export async function ensureMinerWallet(it: Intake, log: Logger, w: MinerWallet, done: Set<string>): Promise<IntakeAnswer<void>> {
  if (done.has(w.address)) return DONE;
  const bad = validateAddress(w.coin, w.address);
  if (bad) {
    unpayable(it, log, w, bad);
    done.add(w.address);
    return DONE;
  }
  if (await retired(it, w)) {
    log.warn(
      { pool: w.pool, coin: w.coin.tag, user: w.user, address: w.address },
      'miner wallet retired in the ledger: not registered again',
    );
    done.add(w.address);
    return DONE;
  }
  const r = await intakeCall<{ id: number; reviewed: boolean }>(it, 'Wallets.Register', {
    user: w.user,
    coin: w.coin.tag,
    address: w.address,
  });
  if (!r.ok) return r;
  if (!r.value.reviewed) {
    const signed = await intakeCall(it, 'Wallets.Sign', { wallet: r.value.id });
    if (!signed.ok) return signed;
  }
  done.add(w.address);
  return DONE;
}
