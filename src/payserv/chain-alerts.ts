import type { ChainDriver, ChainIdentityError } from '../chains/driver.js';
import type { Payserv } from './context.js';

// What the chain side of payserv tells an operator, beside the fail-stop: each alert through the alert
// hook (src/alerts/alerts.ts), once per episode of its subject (ServiceState.alertOnce), raised by the
// monitor (src/payserv/monitor.ts, finality.ts) and by Check (src/payserv/payments/check.ts). The README's
// alerts table says what each means and what to do.

export const ALERT = {
  /** A withdrawal in sending or send_retry longer than [monitor] stuck_after_s. */
  stuck: 'payment_stuck',
  /** A coin's node failing its health check longer than [monitor] node_unhealthy_after_s. */
  unhealthy: 'node_unhealthy',
  /** A node on another chain (chain id, genesis, a head gone back): at once, wherever it was seen. */
  identity: 'node_identity',
  /** A stale payment whose replacement cannot outbid it within the fee cap. */
  feeCap: 'fee_cap',
  /** A payment unknown to the node with an input that exists nowhere (its funding transaction reorged away): it cannot be mined. */
  inputMissing: 'input_missing',
  /** A sent payment's transaction gone from the chain before it was final: with a fail-stop. */
  reorged: 'payment_reorged',
  /** The hot wallet holds outputs payserv leaves out (not worth spending, past utxo_max), or more than a scan can read. */
  flooded: 'hot_wallet_flooded',
} as const;

/** One episode per coin until its node is healthy again (the monitor ends it). */
const IDENTITY_EPISODE = 'foreign chain';

/** A node that is not the chain payserv pays on, seen by `where`: alerted at once, once until the node is healthy again. */
export async function alertIdentity(
  ps: Payserv,
  e: ChainIdentityError,
  where: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  ps.log.error(
    { coin: e.coin, where, err: e.message, ...details },
    'the node is not the chain payserv pays on: nothing it says is taken as evidence',
  );
  await ps.state.alertOnce(ALERT.identity, e.coin, IDENTITY_EPISODE, `${e.message} (seen by ${where})`, {
    coin: e.coin,
    where,
    error: e.message,
    ...details,
  });
}

/** The identity episode of `coin` is over: its node passed a health check. */
export function identityRestored(ps: Payserv, coin: string): boolean {
  return ps.state.endEpisode(ALERT.identity, coin);
}

/** A stale payment that cannot be outbid within the cap: once per attempt stuck there. */
export async function alertFeeCap(ps: Payserv, p: { withdrawal: number; coin: string; tx: string; reason: string }): Promise<void> {
  ps.log.warn(p, 'a stale payment cannot be replaced within the fee cap');
  await ps.state.alertOnce(
    ALERT.feeCap,
    `withdrawal ${p.withdrawal}`,
    p.tx,
    `withdrawal ${p.withdrawal} (${p.coin}): transaction ${p.tx} has waited past the replacement time and no replacement can outbid it within the fee cap (${p.reason}); it stays sending until fees fall or the cap is raised`,
    p,
  );
}

/**
 * A payment that cannot be mined as it is: an input exists nowhere, its funding transaction off the best chain (Check's
 * verdict, `unfunded`). Not failed (absence is no proof): alerted once per funding transaction missing, for an operator.
 */
export async function alertInputMissing(
  ps: Payserv,
  p: { withdrawal: number; coin: string; funding: readonly string[]; inputs: readonly string[]; reason: string },
): Promise<void> {
  ps.log.error(p, 'a payment spends an input that exists nowhere: it cannot be mined as it is, and stays sending');
  await ps.state.alertOnce(
    ALERT.inputMissing,
    `withdrawal ${p.withdrawal}`,
    p.funding.join(','),
    `withdrawal ${p.withdrawal} (${p.coin}): ${p.reason}. Look for funding transaction ${p.funding.join(', ')} (a deposit to the hot wallet, or the change of an earlier payment) and have it mined again, or wait until a transaction spending its inputs is buried: then Check proves the failure and Resend pays once`,
    { ...p },
  );
}

/** The payment's inputs exist again (or it was decided): its input_missing episode is over. */
export function inputsFound(ps: Payserv, withdrawal: number): boolean {
  return ps.state.endEpisode(ALERT.inputMissing, `withdrawal ${withdrawal}`);
}

/** A replacement went out: the withdrawal is no longer stuck at the cap. */
export function feeCapLifted(ps: Payserv, withdrawal: number): boolean {
  return ps.state.endEpisode(ALERT.feeCap, `withdrawal ${withdrawal}`);
}

/**
 * What the coin's last read of its hot wallet left out or could not read (ChainDriver.walletFlood): alerted once
 * per episode ("left out": payouts go on; "unreadable": they wait), ended once a read takes the wallet whole.
 */
export async function alertWalletFlood(ps: Payserv, driver: ChainDriver): Promise<void> {
  const f = driver.walletFlood?.() ?? null;
  if (!f) {
    if (ps.state.endEpisode(ALERT.flooded, driver.tag)) ps.log.info({ coin: driver.tag }, 'the hot wallet is read whole again');
    return;
  }
  await ps.state.alertOnce(ALERT.flooded, driver.tag, f.episode, f.reason, { coin: driver.tag, address: driver.address, ...f.details });
}
