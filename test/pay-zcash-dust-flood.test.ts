// A flood of small outputs sent to the Zcash hot wallet (the Bitcoin family's test/pay-btc-dust-flood.test.ts, carried
// over): the hot wallet's address is public, and anyone may send it outputs. Before the fix, a getaddressutxos reply
// listing more than ADDRESS_UTXOS_MAX outputs was a ZcashRpcBadReply thrown out of sign, spendable and Check's verdict:
// a flood of outputs worth a few zatoshi stopped Zcash payouts.
//
// Now (README "A flood of small outputs"): outputs worth no more than their input's ZIP-317 marginal fee (5,000 zatoshi)
// are left out, of the others only the utxo_max largest are kept, and a wallet the node's reply cannot carry makes
// payments wait (send_retry), never throw; each is alerted (hot_wallet_flooded). The stand-in, like zebrad, lists every
// output in one reply. Asserted: payouts go on, a reply not a throw, the alert once, paid once, nothing lost (the
// stranger's outputs stay in the wallet), and the sweep takes the kept outputs only.
import { afterEach, expect, it } from 'vitest';
import type { ZcashDriver } from '../src/chains/zcash/driver.js';
import { ADDRESS_UTXOS_MAX } from '../src/chains/zcash/rpc.js';
import { HotWalletUnreadable } from '../src/chains/utxo-flood.js';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const DUST_LIKE = 3_000n;
const WORTH = 10_000n;
const UTXO_MAX = 100;

const standin = zcashStandinForFile();
let node: ZcashStandin;
let t: TestPayserv;
let driver: ZcashDriver;
let nextUser = 9870;
afterEach(async () => {
  await t.ledger.db.close();
});

async function bench(utxoMax?: number): Promise<void> {
  node = await standin();
  t = await testPayserv({
    seed: { users: 2, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 87 },
    drivers: async (deps) => {
      driver = await zcashDriver(node, deps, { fund: [300_000_000n], ...(utxoMax === undefined ? {} : { settings: { utxoMax } }) });
      return new Map([['ZEC', driver]]);
    },
  });
  await node.mine(1);
}

async function pending(amount: string) {
  const m = await newMiner(t, nextUser++, '20', { tag: 'ZEC', address: zcashAddress() });
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
  return { id, address: m.address, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

/** A stranger sends `values` to the hot wallet, in transactions of at most `perTx` outputs, each mined in a block of its own. */
async function flood(values: readonly bigint[], perTx: number): Promise<void> {
  for (let i = 0; i < values.length; i += perTx) await node.fundMany(driver.address, values.slice(i, i + perTx));
  await node.mine(1);
}

const unspentTo = (address: string): bigint[] =>
  node
    .outputsTo(address)
    .filter((o) => o.height !== null && o.spentBy === null)
    .map((o) => o.value);
const count = (vs: readonly bigint[], v: bigint): number => vs.filter((x) => x === v).length;
const flooded = () => t.alerts.filter((a) => a.kind === 'hot_wallet_flooded');

describePerDataPath('a stranger flooding the Zcash hot wallet with small outputs', () => {
  it(
    'outputs not worth spending and those past utxo_max are left out: payouts go on, alerted once, the sweep leaves them',
    { timeout: 300_000 },
    async () => {
      await bench(UTXO_MAX);
      await flood([...Array<bigint>(150).fill(DUST_LIKE), ...Array<bigint>(150).fill(WORTH)], 100);

      const w = await pending('1');
      // A reply, never a throw: the payment is signed from the kept outputs.
      const r = await approveWithdrawal(t.ps, w.id, 'test');
      expect(r.reply, r.message).toBe('SENDING');
      expect(flooded()).toHaveLength(1);
      expect(flooded()[0]?.reason).toMatch(/150 output\(s\) worth 450000 not worth spending \(each 5000 or less/);
      // Kept: the 3 ZEC funding output and the 99 largest of the stranger's 10,000-zatoshi outputs; 51 past utxo_max.
      expect(flooded()[0]?.reason).toMatch(/51 output\(s\) worth 510000 past the 100 largest kept/);

      await node.mine(10);
      expect((await checkWithdrawal(t.ps, w.id, 'test')).reply).toBe('SENT');
      // Paid once, and never again; the alert raised once for the episode.
      expect(unspentTo(w.address)).toEqual([w.value]);
      expect((await approveWithdrawal(t.ps, w.id, 'test')).reply).not.toBe('SENDING');
      expect(unspentTo(w.address)).toEqual([w.value]);
      expect(flooded()).toHaveLength(1);
      // Nothing lost: every output the stranger sent is still the wallet's (the payment spent the 3 ZEC output only).
      const held = unspentTo(driver.address);
      expect([count(held, DUST_LIKE), count(held, WORTH)]).toEqual([150, 150]);

      // The rotation's sweep reads the wallet the same way: the kept outputs, what it leaves said so.
      const sweep = await t.ps.db.transaction((tx) => driver.signSweep(tx, zcashAddress()));
      expect(sweep.kind).toBe('signed');
      if (sweep.kind !== 'signed') return;
      const spent = new Set(sweep.tx.inputs.map((i) => `${i.txid}:${i.vout}`));
      expect(spent.size).toBe(UTXO_MAX);
      expect(sweep.tx.inputs.every((i) => i.value > DUST_LIKE)).toBe(true);
      expect(sweep.note).toMatch(/the sweep leaves in .*150 output\(s\) worth 450000 not worth spending/);
    },
  );

  it(
    'a wallet the node cannot list in one reply: the payment waits (send_retry) and is alerted, never a throw',
    { timeout: 300_000 },
    async () => {
      await bench();
      // One more output than a getaddressutxos reply may list, of 1,000 zatoshi each (in transactions of 2,000).
      await flood(Array<bigint>(ADDRESS_UTXOS_MAX + 1).fill(1_000n), 2_000);
      const w = await pending('1');
      const r = await approveWithdrawal(t.ps, w.id, 'test');
      expect(r.reply, r.message).toBe('SEND_RETRY');
      expect(r.message).toMatch(/the hot wallet .* cannot be read/);
      expect(flooded().map((a) => a.reason)).toEqual([expect.stringMatching(/cannot be read: getaddressutxos answered/)]);
      expect(unspentTo(w.address)).toEqual([]);
      expect(t.ps.state.enabled).toBe(true);
      // The balance asked of the driver is the node unreadable (payserv's callers wait on it), not a bad reply.
      await expect(t.ps.db.transaction((tx) => driver.spendable(tx))).rejects.toBeInstanceOf(HotWalletUnreadable);
    },
  );
});
