// A flood of small outputs sent to a UTXO hot wallet's public address (README "A flood of small outputs"), for every
// UTXO driver (Bitcoin family, Zcash): outputs not worth spending are left out, of the others only the `utxo_max`
// largest are kept, and a wallet the node's reply cannot carry makes payments wait (HotWalletUnreadable, a
// NodeUnavailable: send_retry), never throw. What a read left out or could not read is noted for walletFlood
// (alerted as hot_wallet_flooded).
import type { Logger } from '../log/index.js';
import { NodeUnavailable, type WalletFlood } from './driver.js';

/** The default of utxo_max: the most outputs of the hot wallet a read keeps. */
export const UTXO_MAX_DEFAULT = 50_000;

/**
 * Outputs of the wallet a read leaves out: `dust`, not worth spending (each worth no more than the fee its input
 * costs: anyone can send them to the public address, and spending them would lose money); `beyond`, worth spending
 * but past the `utxoMax` largest kept (spent once the larger ones are). `txids`: the distinct transactions that made
 * them (the unknown-spend check reads every transaction paying the wallet).
 */
export interface WalletLeftOut {
  dust: { count: number; value: bigint };
  beyond: { count: number; value: bigint };
  txids: string[];
}

/**
 * The outputs kept, largest first: those worth more than `dustMax`, at most `utxoMax` of them; `leftOut` counts the
 * rest. `dustMax` -1: every output is worth spending.
 */
export function keepWorthSpending<U>(
  utxos: readonly U[],
  o: { value: (u: U) => bigint; txid: (u: U) => string; dustMax: bigint; utxoMax?: number | undefined },
): { kept: U[]; leftOut: WalletLeftOut } {
  const utxoMax = o.utxoMax ?? UTXO_MAX_DEFAULT;
  if (!Number.isSafeInteger(utxoMax) || utxoMax < 1) throw new RangeError('utxoMax must be at least 1');
  const leftOut: WalletLeftOut = { dust: { count: 0, value: 0n }, beyond: { count: 0, value: 0n }, txids: [] };
  const leftTxids = new Set<string>();
  const leave = (into: { count: number; value: bigint }, u: U) => {
    into.count++;
    into.value += o.value(u);
    leftTxids.add(o.txid(u));
  };
  const worth: U[] = [];
  for (const u of utxos)
    if (o.value(u) > o.dustMax) worth.push(u);
    else leave(leftOut.dust, u);
  worth.sort((a, b) => {
    const [x, y] = [o.value(a), o.value(b)];
    return x === y ? 0 : x > y ? -1 : 1;
  });
  for (const u of worth.slice(utxoMax)) leave(leftOut.beyond, u);
  leftOut.txids = [...leftTxids];
  return { kept: worth.slice(0, utxoMax), leftOut };
}

/** The hot wallet could not be read (the node's reply too large for the client's bounds): payments wait (send_retry), alerted. */
export class HotWalletUnreadable extends NodeUnavailable {
  override name = 'HotWalletUnreadable';
}

/**
 * What the last read of one coin's hot wallet left out or could not read (ChainDriver.walletFlood), with the reasons
 * payments and a sweep give. `dustWhy`: what bounds an output not worth spending (the input's fee at the floor fee rate).
 */
export class WalletFloodNote {
  #flood: WalletFlood | null = null;

  constructor(private readonly c: { tag: string; address: string; log: Logger; utxoMax: number | undefined; dustWhy: string }) {}

  get current(): WalletFlood | null {
    return this.#flood;
  }

  /** What a read left out, as a reason's tail ('' when nothing). */
  note(l: WalletLeftOut, dustMax: bigint): string {
    const parts = [];
    if (l.dust.count)
      parts.push(`${l.dust.count} output(s) worth ${l.dust.value} not worth spending (each ${dustMax} or less: ${this.c.dustWhy})`);
    if (l.beyond.count)
      parts.push(
        `${l.beyond.count} output(s) worth ${l.beyond.value} past the ${this.c.utxoMax ?? UTXO_MAX_DEFAULT} largest kept (utxo_max)`,
      );
    return parts.length ? ` (left out: ${parts.join('; ')})` : '';
  }

  /** A read of the wallet that kept `kept` outputs and left out `l`: the episode ends when nothing was left out. */
  read(l: WalletLeftOut, dustMax: bigint, kept: number): void {
    const note = this.note(l, dustMax);
    if (!note) {
      this.#flood = null;
      return;
    }
    const details = {
      dust: { count: l.dust.count, value: l.dust.value.toString(), value_max: dustMax.toString() },
      beyond: { count: l.beyond.count, value: l.beyond.value.toString() },
      kept,
    };
    if (this.#flood?.episode !== 'left out')
      this.c.log.warn({ coin: this.c.tag, address: this.c.address, ...details }, `hot wallet scan${note}`);
    this.#flood = {
      episode: 'left out',
      reason: `coin ${this.c.tag}: the hot wallet ${this.c.address} holds outputs payserv does not spend${note}; payouts go on from the ${kept} kept. Sent by anyone to the public address (a dust flood?): see README "A flood of small outputs"`,
      details,
    };
  }

  /** `method`'s reply listing the wallet was past the client's bounds (`message`): noted, and the error payments wait on. */
  unreadable(method: string, message: string): HotWalletUnreadable {
    const reason = `coin ${this.c.tag}: the hot wallet ${this.c.address} cannot be read: ${method} answered ${message}; payouts of ${this.c.tag} wait (send_retry). More outputs than a reply carries (a flood of small outputs?): see README "A flood of small outputs"`;
    this.#flood = { episode: 'unreadable', reason, details: { error: message } };
    this.c.log.error({ coin: this.c.tag, address: this.c.address, err: message }, 'the hot wallet cannot be read');
    return new HotWalletUnreadable(reason);
  }
}
