// A Zcash SendCoin batch: one transparent transaction paying OUTPUTS withdrawals (payserv's batch_max
// default is 500) from INPUTS P2PKH outputs of the hot wallet, plus change.
//  (a) in process, no node: buildTransparentTx + signTransparentTx, v4 (ZIP-243) and v5 (ZIP-244),
//      alternated, a warm-up then REPS timed each; signing includes the independent verification of the
//      signed bytes (verify.ts), timed alone as well to show its share. Median times, serialized size,
//      the fee paid and the ZIP-317 conventional fee;
//  (b) optionally, the same batch end to end: payserv in process with its ZcashDriver against the node
//      stand-in, OUTPUTS withdrawals approved by Process (automatic policy), then one SendCoin call timed
//      until every withdrawal is SENDING (verify each account, choose and reserve inputs, build, sign,
//      store write-ahead with OUTPUTS signed status changes, broadcast, checkpoints).
import { journalDir, PaymentJournal } from '../src/journal/journal.js';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { zcashAddressScript, zcashP2pkhAddress } from '../src/chains/address.js';
import { branchByName } from '../src/chains/zcash/branch.js';
import {
  buildTransparentTx,
  STANDARD_TX_BYTES_MAX,
  type BuildInput,
  type BuildOutput,
  type BuildRequest,
} from '../src/chains/zcash/build.js';
import { fromHex } from '../src/chains/zcash/bytes.js';
import { ZcashDriver, type ZcashSettings } from '../src/chains/zcash/driver.js';
import { driverStorage } from '../src/app/drivers.js';
import { conventionalFeeZat, estimateTransparentFeeZat, logicalActions } from '../src/chains/zcash/fee.js';
import { p2pkhScript, pubkeyHash } from '../src/chains/zcash/script.js';
import type { SpentOutput } from '../src/chains/zcash/sighash-v5.js';
import { signTransparentTx } from '../src/chains/zcash/sign.js';
import { startZcashStandin, type ZcashStandin } from '../src/devnet/zcash-standin.js';
import { parseTx } from '../src/chains/zcash/tx.js';
import { verifyTransparentTx } from '../src/chains/zcash/verify.js';
import type { Db } from '../src/db/db.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import { formatAmount, fromBaseUnits, parseAmount } from '../src/money/amount.js';
import { payValue } from '../src/payserv/payments/value.js';
import { processWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { registerCoin } from '../src/writer/coins.js';
import { FEE_USER, type Pki } from './ledger.js';
import { callEach, failureReporter, localPayserv, payRequests, payservLog, perSec, repliesText } from './pay-setup.js';
import { fmt, heading, line, median, progress, round } from './report.js';

/** The section's coin: its own tag, apart from every other section's coins. */
const TAG = 'PAYZEC';
const PAY_ZCASH_FIRST_USER = 3_100_001;
const CALLER = 'bench';
const NETWORK = 'mainnet';
/** The network's current upgrade (DESIGN §6), as the stand-in announces it. */
const BRANCH = branchByName('NU6.3');
/** Somewhere near mainnet's tip plus zcashd's default expiry delta: any valid height times the same. */
const EXPIRY_HEIGHT = 3_000_040;
/** Each funding output carries this much beyond its share of outputs + fee, so the change is well above dust. */
const CHANGE_PER_INPUT_ZAT = 10_000n;
/** Output values of the in-process batch: 0.001 to 0.1 ZEC, as payouts are. */
const OUTPUT_ZAT_MIN = 100_000;
const OUTPUT_ZAT_SPAN = 9_900_000;
/** payserv's defaults for a zcash coin (src/config/schema.ts): v4, expiry delta 40, fee_max 5,000,000 zat. */
const CONFIG_TX_VERSION = 4;
const CONFIG_EXPIRY_DELTA = 40;
const CONFIG_FEE_MAX_ZAT = 5_000_000n;
const CONFIG_MIN_PEERS = 3;
const NODE_TIMEOUT_MS = 10_000;
/** As a ZEC coin of the original: 8 decimals, 10 confirmations, a 0.0001 fee. */
const CONFIRMATIONS = 10;
const EARNED = parseAmount('1');
/** Each request: 0.01 ZEC plus a few zatoshi, so that no two outputs are alike. */
const amountOf = (i: number) => fromBaseUnits(1_000_000n + BigInt(i), 8);
/** Approves every request of this section: each is far below these. */
const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('1000000'),
  walletAgeHoursMin: 0,
};

export interface PayZcashSettings {
  outputs: number;
  inputs: number;
  reps: number;
  sendCoin: boolean;
}

interface VersionTimes {
  version: 4 | 5;
  buildMs: number[];
  signMs: number[];
  verifyMs: number[];
  bytes: number;
  feeZat: bigint;
  conventionalZat: bigint;
  logicalActions: number;
  txid: string;
}

export interface PayZcashSummary {
  outputs: number;
  inputs: number;
  reps: number;
  inProcess: Array<{
    version: 4 | 5;
    buildMedianMs: number;
    signMedianMs: number;
    buildSignMedianMs: number;
    verifyMedianMs: number;
    bytes: number;
    feeZat: string;
    conventionalFeeZat: string;
    logicalActions: number;
  }>;
  sendCoin: null | {
    backend: string;
    txVersion: number;
    buildSeconds: number;
    processPerSec: number;
    sendCoinMs: number;
    withdrawalsPerSec: number;
    replies: Record<string, number>;
    inputs: number;
    outputs: number;
    bytes: number;
    feeZat: string;
  };
  loadAvgStartEnd: [number, number];
  seconds: number;
}

export interface PayZcashOutcome {
  failures: string[];
  summary: PayZcashSummary | null;
}

/** Zatoshi, grouped, and in ZEC: exact (a bigint never goes through a float). */
const zat = (z: bigint) => `${z.toLocaleString('en-US')} zat (${formatAmount(fromBaseUnits(z, 8))} ZEC)`;

/** The in-process batch: `inputs` fake prevouts paying `script`, `outputs` random P2PKH outputs, change back to `script`. */
function batchOf(script: Uint8Array, inputs: number, outputs: number): { ins: BuildInput[]; outs: BuildOutput[]; feeZat: bigint } {
  const outs: BuildOutput[] = Array.from({ length: outputs }, () => ({
    scriptPubKey: p2pkhScript(randomBytes(20)),
    value: BigInt(OUTPUT_ZAT_MIN + Math.floor(Math.random() * OUTPUT_ZAT_SPAN)),
  }));
  const total = outs.reduce((a, o) => a + o.value, 0n);
  // As the driver computes it: the ZIP-317 fee of these inputs at their signed P2PKH bound, the outputs and the change.
  const feeZat = estimateTransparentFeeZat(inputs, [...outs.map((o) => o.scriptPubKey), script]);
  const each = (total + feeZat) / BigInt(inputs) + CHANGE_PER_INPUT_ZAT;
  const ins: BuildInput[] = Array.from({ length: inputs }, (_, i) => ({
    txid: randomBytes(32).toString('hex'),
    vout: i % 4,
    value: each,
    scriptPubKey: script,
  }));
  const change = each * BigInt(inputs) - total - feeZat;
  return { ins, outs: [...outs, { scriptPubKey: script, value: change }], feeZat };
}

function inProcess(s: PayZcashSettings, loud: (what: string) => void): VersionTimes[] {
  const branch = BRANCH;
  if (!branch) throw new Error('no NU6.3 in the branch table');
  const key = secp256k1.utils.randomPrivateKey();
  const script = p2pkhScript(pubkeyHash(secp256k1.getPublicKey(key, true)));
  const { ins, outs, feeZat } = batchOf(script, s.inputs, s.outputs);
  const keys = ins.map(() => key);
  const spent = new Map<string, SpentOutput>(ins.map((i) => [`${i.txid}:${i.vout}`, { value: i.value, scriptPubKey: i.scriptPubKey }]));
  const request = (version: 4 | 5): BuildRequest => ({
    version,
    branchId: branch.id,
    inputs: ins,
    outputs: outs,
    expiryHeight: EXPIRY_HEIGHT,
  });
  const once = (version: 4 | 5) => {
    const t0 = performance.now();
    const unsigned = buildTransparentTx(request(version));
    const t1 = performance.now();
    const signed = signTransparentTx(unsigned, unsigned.prevouts, keys);
    const t2 = performance.now();
    // The same check signTransparentTx ends with, alone: its share of the signing time.
    const check = verifyTransparentTx(signed.rawHex, (txid, vout) => spent.get(`${txid}:${vout}`), branch.id);
    const t3 = performance.now();
    if (check.problems.length) loud(`v${version}: the signed batch does not verify: ${check.problems.slice(0, 3).join('; ')}`);
    return { signed, buildMs: t1 - t0, signMs: t2 - t1, verifyMs: t3 - t2 };
  };
  const all: VersionTimes[] = ([4, 5] as const).map((version) => {
    const w = once(version);
    return {
      version,
      buildMs: [],
      signMs: [],
      verifyMs: [],
      bytes: w.signed.raw.length,
      feeZat: w.signed.feeZat,
      conventionalZat: conventionalFeeZat(w.signed.tx),
      logicalActions: logicalActions(w.signed.tx),
      txid: w.signed.txid,
    };
  });
  progress(
    `pay-zcash: in process, ${s.reps} x build + sign of ${fmt.int(s.outputs)} outputs from ${s.inputs} inputs, v4 and v5 alternated`,
  );
  for (let r = 0; r < s.reps; r++) {
    for (const v of all) {
      const x = once(v.version);
      v.buildMs.push(x.buildMs);
      v.signMs.push(x.signMs);
      v.verifyMs.push(x.verifyMs);
      // RFC 6979 signatures: the same batch signs to the same bytes every time (a retry after a crash relies on it).
      if (x.signed.txid !== v.txid) loud(`v${v.version}: repetition ${r + 1} signed to txid ${x.signed.txid}, the first to ${v.txid}`);
    }
  }
  for (const v of all) {
    if (v.feeZat !== feeZat) loud(`v${v.version}: pays a fee of ${v.feeZat} zat, ${feeZat} was asked`);
    if (v.feeZat < v.conventionalZat) loud(`v${v.version}: fee ${v.feeZat} zat is below the ZIP-317 fee ${v.conventionalZat} zat`);
    if (v.bytes > STANDARD_TX_BYTES_MAX) loud(`v${v.version}: ${v.bytes} bytes, over the standard ${STANDARD_TX_BYTES_MAX}`);
  }
  return all;
}

interface SendCoinFigures {
  buildMs: number;
  wallets: number;
  processPerSec: number;
  processFirstMs: number;
  sendCoinMs: number;
  replies: Map<string, number>;
  inputs: number;
  outputs: number;
  bytes: number;
  feeZat: bigint;
}

async function endToEnd(
  db: Db,
  stateDir: string,
  pki: Pki,
  s: PayZcashSettings,
  node: ZcashStandin,
  loud: (what: string) => void,
): Promise<SendCoinFigures | null> {
  const n = s.outputs;
  const coin = await registerCoin(db, pki.admin, {
    tag: TAG,
    name: 'bench Zcash payouts',
    network: NETWORK,
    decimals: 8,
    confirmations: CONFIRMATIONS,
    withdrawalFee: parseAmount('0.0001'),
    minWithdrawal: parseAmount('0.001'),
    feeUserId: FEE_USER,
  });
  progress(`pay-zcash: ${fmt.int(n)} wallets, credits and withdrawal requests`);
  const addresses = Array.from({ length: n }, () => zcashP2pkhAddress(NETWORK, randomBytes(20)));
  const built = await payRequests(db, pki, coin, PAY_ZCASH_FIRST_USER, addresses, EARNED, amountOf, 'pay-zcash');

  const { log, errors } = payservLog();
  const journal = await PaymentJournal.open(journalDir(stateDir));
  await createHotKey(stateDir, TAG);
  const hotKey = await loadHotKey(stateDir, TAG);
  const hotScript = p2pkhScript(pubkeyHash(secp256k1.getPublicKey(hotKey, true)));
  const feeZat = estimateTransparentFeeZat(s.inputs, [...addresses.map((a) => zcashAddressScript(NETWORK, a)), hotScript]);
  // payserv's fee_max default refuses batches of more than ~1,000 outputs (their ZIP-317 fee is above it); this times them all the same.
  const driver = new ZcashDriver(settingsFor(node.url, n, feeZat > CONFIG_FEE_MAX_ZAT ? feeZat : CONFIG_FEE_MAX_ZAT), hotKey, {
    storage: driverStorage(db, pki.trust),
    log,
    journal,
    stateDir,
  });
  // Fund the hot wallet with `inputs` outputs that together just cover the batch: the driver, taking the
  // largest first, then needs every one of them, as the in-process batch spends `inputs` inputs. Their
  // values differ by a zatoshi: the stand-in's funding transactions are v5, whose txid does not commit to
  // the coinbase script that was meant to tell them apart, so two equal fundings would be one output.
  const total = addresses.reduce((a, _, i) => a + payValue(coin, { id: i, amount: amountOf(i), fee: coin.withdrawalFee }), 0n);
  const each = (total + feeZat) / BigInt(s.inputs) + CHANGE_PER_INPUT_ZAT;
  for (let i = 0; i < s.inputs; i++) await node.fund(driver.address, each + BigInt(i));
  const funded = node.outputsTo(driver.address).length;
  if (funded !== s.inputs) {
    loud(`the stand-in holds ${funded} outputs for the hot wallet after ${s.inputs} fundings`);
    return null;
  }
  await driver.start();
  const ps = localPayserv(db, stateDir, pki, log, new Map([[TAG, driver]]), { [TAG]: AUTO }, journal);

  progress(`pay-zcash: Process of ${fmt.int(n)} requests (automatic policy: APPROVED)`);
  const processed = await callEach(built.ids, 'APPROVED', (id) => processWithdrawal(ps, id, CALLER), 'pay-zcash: Process');
  if ((processed.replies.get('APPROVED') ?? 0) !== n) {
    loud(`Process replies: ${repliesText(processed.replies)}; e.g. ${processed.odd.slice(0, 3).join(' | ')}`);
    return null;
  }

  progress(`pay-zcash: SendCoin of ${fmt.int(n)} approved withdrawals`);
  const t = performance.now();
  const sent = await sendCoin(ps, TAG, CALLER);
  const sendCoinMs = performance.now() - t;
  const replies = new Map<string, number>();
  for (const r of sent.results) replies.set(r.reply, (replies.get(r.reply) ?? 0) + 1);
  const hashes = new Set(sent.results.map((r) => r.txHash ?? ''));
  if (sent.reply !== 'SENDING' || (replies.get('SENDING') ?? 0) !== n) {
    const odd = sent.results
      .filter((r) => r.reply !== 'SENDING')
      .slice(0, 3)
      .map((r) => `${r.id}: ${r.reply} ${r.message ?? ''}`);
    loud(`SendCoin: ${sent.reply} (${sent.message ?? ''}); replies ${repliesText(replies)}; e.g. ${odd.join(' | ')}`);
  }
  if (hashes.size !== 1) loud(`SendCoin paid ${n} withdrawals in ${hashes.size} transactions, not one`);
  const [hash] = [...hashes];
  const mempool = node.mempool();
  if (!hash || !mempool.includes(hash))
    loud(`the stand-in's mempool (${mempool.length} transactions) does not hold the batch ${hash ?? '?'}`);
  const rejected = node.rejected();
  if (rejected.length) loud(`the stand-in refused ${rejected.length} transaction(s), e.g. ${rejected[0]?.reason}`);
  const [stored] = await db.query<{ raw: string; max_fee: string }>('SELECT raw, max_fee::text FROM payserv_chain_txs WHERE hash = $1', [
    hash ?? '',
  ]);
  const tx = stored ? parseTx(fromHex(stored.raw, 'stored transaction')) : null;
  const byStatus = Object.fromEntries(
    (
      await db.query<{ status: string; n: number }>(
        'SELECT status, count(*)::bigint AS n FROM finances_withdrawal_transaction WHERE coin_id = $1 GROUP BY status ORDER BY status',
        [coin.id],
      )
    ).map((r) => [r.status, Number(r.n)]),
  );
  if (byStatus.sending !== n) loud(`withdrawals by status after SendCoin: ${JSON.stringify(byStatus)}, not ${n} sending`);
  if (!ps.state.enabled) loud(`payserv disabled itself: ${ps.state.status().reason}`);
  if (errors.length) loud(`payserv logged ${errors.length} error(s), e.g. ${errors[0]}`);
  return {
    buildMs: built.ms,
    wallets: built.wallets,
    processPerSec: perSec(n, processed.wallMs),
    processFirstMs: processed.times[0] ?? 0,
    sendCoinMs,
    replies,
    inputs: tx?.inputs.length ?? 0,
    outputs: tx?.outputs.length ?? 0,
    bytes: (stored?.raw.length ?? 0) / 2,
    feeZat: BigInt(stored?.max_fee ?? '0'),
  };
}

const settingsFor = (url: string, batchMax: number, feeMax: bigint): ZcashSettings => ({
  tag: TAG,
  url,
  network: NETWORK,
  minPeers: CONFIG_MIN_PEERS,
  txVersion: CONFIG_TX_VERSION,
  batchMax,
  expiryDelta: CONFIG_EXPIRY_DELTA,
  feeMax,
  timeoutMs: NODE_TIMEOUT_MS,
});

export async function runPayZcashSection(db: Db, where: string, stateDir: string, pki: Pki, s: PayZcashSettings): Promise<PayZcashOutcome> {
  const t0 = performance.now();
  const loadStart = loadavg()[0] as number;
  heading(`9. Zcash SendCoin batch: ${fmt.int(s.outputs)} P2PKH outputs + change from ${s.inputs} P2PKH inputs, NU6.3`);
  const { failures, loud } = failureReporter('pay-zcash', line);

  const versions = inProcess(s, loud);
  line(
    `(a) in process, median of ${s.reps} (after a warm-up)`,
    'build | sign (incl. verify) | build + sign | verify alone | size | fee paid | ZIP-317 fee',
  );
  for (const v of versions) {
    const b = median(v.buildMs);
    const g = median(v.signMs);
    line(
      `    v${v.version} (${v.version === 4 ? 'ZIP-243' : 'ZIP-244'})`,
      `${fmt.ms(b)} | ${fmt.ms(g)} | ${fmt.ms(median(v.buildMs.map((x, i) => x + (v.signMs[i] as number))))} | ${fmt.ms(median(v.verifyMs))} | ${fmt.int(v.bytes)} bytes | ${zat(v.feeZat)} | ${zat(v.conventionalZat)} (${fmt.int(v.logicalActions)} logical actions)`,
    );
  }
  line('    per input signed (v4 | v5)', versions.map((v) => fmt.ms(median(v.signMs) / s.inputs)).join(' | '));

  let e2e: SendCoinFigures | null = null;
  if (s.sendCoin) {
    line('(b) end to end: database', `${db.kind}: ${where}`);
    let node: ZcashStandin | null = null;
    try {
      node = await startZcashStandin({ network: NETWORK });
      e2e = await endToEnd(db, stateDir, pki, s, node, loud);
    } catch (e) {
      loud(`SendCoin end to end: ${(e as Error).stack ?? (e as Error).message}`);
    } finally {
      await node?.stop();
    }
    if (e2e) {
      const v4 = versions.find((v) => v.version === CONFIG_TX_VERSION);
      line('(b) build: wallets, credits, requests', `${fmt.int(e2e.wallets)} in ${fmt.s(e2e.buildMs)}`);
      line(
        '(b) Process (-> APPROVED, automatic policy)',
        `${fmt.rate(e2e.processPerSec)} (the first, which makes the coin's checkpoint: ${fmt.ms(e2e.processFirstMs)})`,
      );
      line(
        `(b) SendCoin to SENDING (v${CONFIG_TX_VERSION}, node stand-in)`,
        `${fmt.ms(e2e.sendCoinMs)} for ${fmt.int(s.outputs)} withdrawals: ${fmt.rate(perSec(s.outputs, e2e.sendCoinMs))} (${repliesText(e2e.replies)})`,
      );
      line(
        '    the transaction',
        `${e2e.inputs} inputs, ${fmt.int(e2e.outputs)} outputs, ${fmt.int(e2e.bytes)} bytes, fee ${zat(e2e.feeZat)}`,
      );
      if (v4)
        line(
          '    of which build + sign (from (a))',
          `~${fmt.ms(median(v4.buildMs.map((x, i) => x + (v4.signMs[i] as number))))} (${(((median(v4.buildMs) + median(v4.signMs)) / e2e.sendCoinMs) * 100).toFixed(1)}%)`,
        );
    }
  } else {
    line('(b) end to end', 'skipped (BENCH_PAY_ZCASH_SENDCOIN=0)');
  }
  line(
    'load average (1 min) at the start / end',
    `${loadStart.toFixed(2)} / ${(loadavg()[0] as number).toFixed(2)} on ${cpus().length} CPUs`,
  );

  return {
    failures,
    summary: {
      outputs: s.outputs,
      inputs: s.inputs,
      reps: s.reps,
      inProcess: versions.map((v) => ({
        version: v.version,
        buildMedianMs: round(median(v.buildMs), 2),
        signMedianMs: round(median(v.signMs), 2),
        buildSignMedianMs: round(median(v.buildMs.map((x, i) => x + (v.signMs[i] as number))), 2),
        verifyMedianMs: round(median(v.verifyMs), 2),
        bytes: v.bytes,
        feeZat: v.feeZat.toString(),
        conventionalFeeZat: v.conventionalZat.toString(),
        logicalActions: v.logicalActions,
      })),
      sendCoin: e2e && {
        backend: db.kind,
        txVersion: CONFIG_TX_VERSION,
        buildSeconds: round(e2e.buildMs / 1000),
        processPerSec: Math.round(e2e.processPerSec),
        sendCoinMs: round(e2e.sendCoinMs, 1),
        withdrawalsPerSec: Math.round(perSec(s.outputs, e2e.sendCoinMs)),
        replies: Object.fromEntries(e2e.replies),
        inputs: e2e.inputs,
        outputs: e2e.outputs,
        bytes: e2e.bytes,
        feeZat: e2e.feeZat.toString(),
      },
      loadAvgStartEnd: [round(loadStart, 2), round(loadavg()[0] as number, 2)],
      seconds: round((performance.now() - t0) / 1000),
    },
  };
}
