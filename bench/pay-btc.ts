// A Bitcoin-family SendCoin batch on a real litecoind regtest node, beside the node's own `sendmany` of the
// same outputs, in one run: OUTPUTS withdrawals approved by Process (automatic policy), then one SendCoin
// call timed to SENDING (UTXOs read, fee estimated, built, signed, verified on the independent path,
// testmempoolaccept, the write-ahead commit, sendrawtransaction); then the node's wallet pays the same
// addresses the same amounts by `sendmany` (its own coin selection, signing and broadcast). Both
// transactions are mined and checked. Skipped (with a line saying so) when litecoind is not installed.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { loadavg } from 'node:os';
import { driverStorage } from '../src/app/drivers.js';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver, type BtcSettings } from '../src/chains/btc/driver.js';
import { satoshisOf } from '../src/chains/btc/json.js';
import { preset } from '../src/chains/btc/network.js';
import type { Db } from '../src/db/db.js';
import { journalDir, PaymentJournal } from '../src/journal/journal.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import { fromBaseUnits, parseAmount } from '../src/money/amount.js';
import { payValue } from '../src/payserv/payments/value.js';
import { processWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { registerCoin } from '../src/writer/coins.js';
import { fromSat, hasLitecoind, startLitecoind, type Litecoind } from '../test/support/litecoind-node.js';
import { FEE_USER, type Pki } from './ledger.js';
import { callEach, failureReporter, localPayserv, payRequests, payservLog, perSec, repliesText } from './pay-setup.js';
import { fmt, heading, line, progress, round } from './report.js';

/** The section's coin: its own tag, apart from every other section's coins. */
const TAG = 'PAYLTC';
const FIRST_USER = 3_200_001;
const CALLER = 'bench';
const NET = preset('LTC-regtest');
const EARNED = parseAmount('1');
/** 0.01 LTC and up, a satoshi apart: well above dust. */
const amountOf = (i: number) => fromBaseUnits(1_000_000n + BigInt(i), 8);
const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('1000000'),
  walletAgeHoursMin: 0,
};

export interface PayBtcSettings {
  outputs: number;
}

export interface PayBtcSummary {
  outputs: number;
  /** cpuMs: this process's CPU time over the call, a figure a loaded machine changes less than the wall clock. */
  sendCoin: { ms: number; cpuMs: number; withdrawalsPerSec: number; replies: Record<string, number>; vsize: number; fee: string } | null;
  sendmany: { ms: number; outputsPerSec: number; vsize: number; fee: string } | null;
  loadAvgStartEnd: [number, number];
  seconds: number;
}

export interface PayBtcOutcome {
  failures: string[];
  summary: PayBtcSummary | null;
}

const settings = (url: string, batchMax: number): BtcSettings => ({
  tag: TAG,
  url,
  net: NET,
  wallet: 'p2wpkh',
  minPeers: 0,
  batchMax,
  feeRateMin: 1n,
  feeRateMax: 100n,
  feeTargetBlocks: 6,
  spenderScanBlocks: 500,
  timeoutMs: 60_000,
});

/** vsize and fee (satoshis, exact) of a mempool transaction. */
async function entry(node: Litecoind, txid: string): Promise<{ vsize: number; fee: string }> {
  const e = (await node.rpc('getmempoolentry', [txid])) as { vsize: number; fees: { base: unknown } };
  return { vsize: e.vsize, fee: String(satoshisOf(e.fees.base)) };
}

export async function runPayBtcSection(db: Db, where: string, stateDir: string, pki: Pki, s: PayBtcSettings): Promise<PayBtcOutcome> {
  const t0 = performance.now();
  const loadStart = loadavg()[0] as number;
  heading(`9b. Bitcoin-family SendCoin of ${fmt.int(s.outputs)} outputs on litecoind regtest, beside the node's sendmany`);
  const { failures, loud } = failureReporter('pay-btc', line);
  if (!hasLitecoind()) {
    line('skipped', 'litecoind is not installed (apt-get install litecoind)');
    return { failures, summary: null };
  }
  line('database', `${db.kind}: ${where}`);
  const n = s.outputs;
  let node: Litecoind | null = null;
  let sc: PayBtcSummary['sendCoin'] = null;
  let sm: PayBtcSummary['sendmany'] = null;
  try {
    node = await startLitecoind();
    const coin = await registerCoin(db, pki.admin, {
      tag: TAG,
      name: 'bench Litecoin payouts',
      network: 'testnet',
      decimals: 8,
      confirmations: 6,
      withdrawalFee: parseAmount('0.0001'),
      minWithdrawal: parseAmount('0.001'),
      feeUserId: FEE_USER,
    });
    progress(`pay-btc: ${fmt.int(n)} wallets, credits and withdrawal requests`);
    const addresses = Array.from({ length: n }, () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true)));
    const built = await payRequests(db, pki, coin, FIRST_USER, addresses, EARNED, amountOf, 'pay-btc');
    const values = addresses.map((_, i) => payValue(coin, { id: i, amount: amountOf(i), fee: coin.withdrawalFee }));
    const total = values.reduce((a, v) => a + v, 0n);

    const { log, errors } = payservLog();
    const journal = await PaymentJournal.open(journalDir(stateDir));
    await createHotKey(stateDir, TAG);
    const driver = new BtcDriver(settings(node.url, n), await loadHotKey(stateDir, TAG), {
      storage: driverStorage(db, pki.trust),
      log,
      journal,
      stateDir,
    });
    await node.fund(driver.address, total + 100_000_000n);
    await driver.start();
    const ps = localPayserv(db, stateDir, pki, log, new Map([[TAG, driver]]), { [TAG]: AUTO }, journal);
    progress(`pay-btc: Process of ${fmt.int(n)} requests`);
    const processed = await callEach(built.ids, 'APPROVED', (id) => processWithdrawal(ps, id, CALLER), 'pay-btc: Process');
    if ((processed.replies.get('APPROVED') ?? 0) !== n) loud(`Process replies: ${repliesText(processed.replies)}`);

    progress(`pay-btc: SendCoin of ${fmt.int(n)} approved withdrawals`);
    let t = performance.now();
    const cpu = process.cpuUsage();
    const sent = await sendCoin(ps, TAG, CALLER);
    const sendCoinMs = performance.now() - t;
    const used = process.cpuUsage(cpu);
    const cpuMs = round((used.user + used.system) / 1000, 1);
    const replies = new Map<string, number>();
    for (const r of sent.results) replies.set(r.reply, (replies.get(r.reply) ?? 0) + 1);
    const hashes = [...new Set(sent.results.map((r) => r.txHash ?? ''))];
    if ((replies.get('SENDING') ?? 0) !== n)
      loud(`SendCoin replies: ${repliesText(replies)}; ${sent.results.find((r) => r.reply !== 'SENDING')?.message ?? ''}`);
    if (hashes.length !== 1) loud(`SendCoin paid ${n} withdrawals in ${hashes.length} transactions, not one`);
    const ours = hashes[0] ?? '';
    sc = {
      ms: round(sendCoinMs, 1),
      cpuMs,
      withdrawalsPerSec: Math.round(perSec(n, sendCoinMs)),
      replies: Object.fromEntries(replies),
      ...(await entry(node, ours)),
    };
    if (errors.length) loud(`payserv logged ${errors.length} error(s), e.g. ${errors[0]}`);

    // The node's own wallet pays the same addresses the same amounts: one sendmany call, timed.
    progress(`pay-btc: the node's sendmany of the same ${fmt.int(n)} outputs`);
    const miner = 'miner';
    const amounts = Object.fromEntries(addresses.map((a, i) => [a, fromSat(values[i] as bigint)]));
    t = performance.now();
    const theirs = (await node.rpc('sendmany', ['', amounts], miner)) as string;
    const sendmanyMs = performance.now() - t;
    sm = { ms: round(sendmanyMs, 1), outputsPerSec: Math.round(perSec(n, sendmanyMs)), ...(await entry(node, theirs)) };

    await node.mine(1);
    const mined = (await node.rpc('getrawmempool')) as string[];
    if (mined.length) loud(`${mined.length} transaction(s) still in the mempool after a block`);
    line(
      '(a) SendCoin to SENDING (payserv)',
      `${fmt.ms(sendCoinMs)} (CPU ${fmt.ms(cpuMs)}) for ${fmt.int(n)} withdrawals: ${fmt.rate(perSec(n, sendCoinMs))} (${repliesText(replies)}), ${fmt.int(sc.vsize)} vB, fee ${sc.fee} sat`,
    );
    line(
      "(b) the node's sendmany, same outputs",
      `${fmt.ms(sendmanyMs)} for ${fmt.int(n)} outputs: ${fmt.rate(perSec(n, sendmanyMs))}, ${fmt.int(sm.vsize)} vB, fee ${sm.fee} sat`,
    );
  } catch (e) {
    loud(`pay-btc: ${(e as Error).stack ?? (e as Error).message}`);
  } finally {
    await node?.stop();
  }
  return {
    failures,
    summary: {
      outputs: n,
      sendCoin: sc,
      sendmany: sm,
      loadAvgStartEnd: [round(loadStart, 2), round(loadavg()[0] as number, 2)],
      seconds: round((performance.now() - t0) / 1000),
    },
  };
}
