// Both adapters' wallet policy: a pool pays a miner to the address it mines with, so that address is registered
// as the miner's wallet and signed (reviewed automatically, whatever [wallets] review says), only for the users of
// a block the intake has credited (a block the chain refuses writes no wallet). A wallet an operator deleted or
// deactivated is never added back, after a restart too: the ledger, not this process's memory, says so. An address
// the coin's validation refuses (a Zcash miner's shielded z-address: MiningCore accepts and pays those) is not
// registered either: the miner's credits are imported all the same, unpaid, and the operator alerted once.

import { sameAddress, validateAddress } from '../chains/address.js';
import { RowError, toWallet, WALLET_COLUMNS } from '../data/rows.js';
import { INTAKE_ALERT } from '../intake/alerts.js';
import type { Intake } from '../intake/context.js';
import { walletFaults } from '../intake/integrity.js';
import { intakeView } from '../intake/ledger.js';
import type { CertBook } from '../ledger/certbook.js';
import type { Coin, Signed, Wallet } from '../ledger/records.js';
import { isRetired, isReviewed, retiredWord } from '../ledger/wallets.js';
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

/**
 * Whether an operator retired (deleted or deactivated) this address of the user: one-way, never registered again.
 * Judged from signed rows only: every row of the coin holding the address (under any user) and every row of the
 * user (under any address) must verify, so a retired row an attacker moved to another user, or gave another
 * address, is a fault, never "not retired". A fault also leaves the address unregistered (fail safe), alerted.
 */
async function retired(it: Intake, w: MinerWallet): Promise<'retired' | 'unverified' | null> {
  const { rows, faults } = await it.db.transaction(async (tx) => {
    const view = await intakeView(it, tx);
    const raw = await tx.query<Record<string, unknown>>(
      `SELECT ${WALLET_COLUMNS} FROM users_userwallets WHERE coin_id = $1 AND (user_id = $2 OR lower(address) = lower($3))`,
      [w.coin.id, w.user, w.address],
    );
    return walletsChecked(view.book, w, raw);
  });
  if (faults.length) {
    const reason = `wallets holding ${w.address} of ${w.coin.tag} (user ${w.user}) do not verify: ${faults.join('; ')}`;
    it.log.error(
      { pool: w.pool, coin: w.coin.tag, user: w.user, address: w.address, alert: INTAKE_ALERT.integrity, faults },
      `ALERT: ${reason}: not registered`,
    );
    it.alerts.once(
      INTAKE_ALERT.integrity,
      `miner wallet ${w.coin.tag} ${w.address}`,
      `${w.pool}: ${reason}: the miner's wallet not registered`,
      {
        pool: w.pool,
        coin: w.coin.tag,
        user: w.user,
      },
    );
    return 'unverified';
  }
  return rows.some((r) => r.userId === w.user && isRetired(r) && sameAddress(w.coin.tag, r.address, w.address)) ? 'retired' : null;
}

/**
 * The rows that bear on the address, decoded and verified (free of I/O). A fault: a row too malformed to decode, a
 * signature that does not cover the row, or a retired row with no signature found under another user or address (a
 * retirement is always signed: one stripped of it could have been moved there). The SQL's lower() match is narrowed
 * to the coin's own address comparison here (EVM addresses in any case, others exactly).
 */
function walletsChecked(
  book: CertBook,
  w: MinerWallet,
  raw: readonly Record<string, unknown>[],
): { rows: Signed<Wallet>[]; faults: string[] } {
  const rows: Signed<Wallet>[] = [];
  const faults: string[] = [];
  for (const r of raw) {
    let x: Signed<Wallet>;
    try {
      x = toWallet(r);
    } catch (e) {
      if (!(e instanceof RowError)) throw e;
      faults.push(e.message);
      continue;
    }
    if (x.userId !== w.user && !sameAddress(w.coin.tag, x.address, w.address)) continue;
    rows.push(x);
    faults.push(...walletFaults(book, x).map((f) => `wallet ${x.id}: ${f}`));
    const own = x.userId === w.user && sameAddress(w.coin.tag, x.address, w.address);
    if (!own && isRetired(x) && !isReviewed(x)) faults.push(`wallet ${x.id} is ${retiredWord(x)} without the pool's signature`);
  }
  return { rows, faults };
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
  const bad = validateAddress(w.coin, w.address, it.chains);
  if (bad) {
    unpayable(it, log, w, bad);
    done.add(w.address);
    return DONE;
  }
  const gone = await retired(it, w);
  if (gone === 'unverified') return DONE;
  if (gone) {
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
