// Ethereum payouts on anvil, measured in one run against the same node:
//  (a) payserv in process (no RPC), with its EvmDriver: Approve of N processed (PENDING) requests one
//      after the other (each verifies the account, asks the node for fees, gas, balance and nonce,
//      signs, stores the transaction and the signed `sending` status in one database transaction, then
//      broadcasts), the confirmations mined, then Check of each until SENT. Withdrawals per second
//      for Approve, for Check, and end to end;
//  (b) the node's own rate: N plain transfers signed with viem beforehand, then only
//      eth_sendRawTransaction timed, one after the other, before (a) and again after it.
// The ratio (a)/(b) is what payserv's safety costs per payment on top of the node's work. The node
// calls payserv makes are counted (viem fetches at call time, so a counting fetch sees each of them).
import { journalDir, PaymentJournal } from '../src/journal/journal.js';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { createPublicClient, http, keccak256, type Hex, type PublicClient } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { mine, setBalance, startAnvil, type Anvil } from '../src/devnet/anvil.js';
import { EvmDriver, type EvmSettings } from '../src/chains/eth/driver.js';
import { driverStorage } from '../src/app/drivers.js';
import type { Db } from '../src/db/db.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import { fromBaseUnits, parseAmount } from '../src/money/amount.js';
import { payValue } from '../src/payserv/payments/value.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { registerCoin } from '../src/writer/coins.js';
import { FEE_USER, type Pki } from './ledger.js';
import { callEach, failureReporter, localPayserv, payRequests, payservLog, perSec, repliesText, type Calls } from './pay-setup.js';
import { fmt, heading, line, median, progress, quantile, round, throttled } from './report.js';

/** The section's coin: its own tag, so that it never meets the ETH coin of section 7 (which has 8 decimals). */
const TAG = 'PAYETH';
/** Its users: apart from every other section's. */
const PAY_ETH_FIRST_USER = 3_000_001;
const CHAIN_ID = 31337;
const CALLER = 'bench';
/** As an ETH coin of the original: 18 decimals, 12 confirmations. */
const CONFIRMATIONS = 12;
const EARNED = parseAmount('1');
/** Each request: 0.05 ETH plus a few wei-scale units, so that no two payments are alike. */
const amountOf = (i: number) => fromBaseUnits(50_000_000_000_000_000n + BigInt(i), 18);
/** Far more than N payments and their gas need: the hot wallet is never short (that path is not timed here). */
const HOT_WALLET_WEI = 10n ** 24n;
const RAW_SENDER_WEI = 10n ** 24n;
const GAS_TRANSFER = 21_000n;
const RAW_PRIORITY_FEE_WEI = 1_000_000_000n;
/** Node calls: as payserv's config default (rpc_timeout_ms), and no retries, as the driver does. */
const NODE_TIMEOUT_MS = 10_000;

/** payserv's configuration defaults for an evm coin (src/config/schema.ts), minPeers 0 (anvil has no peers). */
const settingsFor = (url: string): EvmSettings => ({
  tag: TAG,
  url,
  chainId: CHAIN_ID,
  minPeers: 0,
  eip1559: true,
  maxFeePerGas: 200_000_000_000n,
  maxPriorityFeePerGas: 3_000_000_000n,
  gasLimitMax: 100_000n,
  gasLimitMarginPercent: 25,
  replaceAfterMs: 300_000,
  timeoutMs: NODE_TIMEOUT_MS,
});

export interface PayEthSettings {
  withdrawals: number;
}

interface Rate {
  calls: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface PayEthSummary {
  withdrawals: number;
  backend: string;
  confirmations: number;
  buildSeconds: number;
  process: Rate;
  approve: Rate & { nodeCallsPerCall: number; nodeWaitMsPerCall: number; nodeCalls: Record<string, number> };
  mineMs: number;
  check: Rate & { nodeCallsPerCall: number; nodeWaitMsPerCall: number; nodeCalls: Record<string, number> };
  endToEndPerSec: number;
  rawSend: Rate & { beforePerSec: number; afterPerSec: number };
  /** Approve's eth_sendRawTransaction, as the counting fetch saw it (to reply headers). */
  approveSendRawMeanMs: number;
  ratioApproveToRaw: number;
  ratioCheckToRaw: number;
  ratioEndToEndToRaw: number;
  loadAvgStartEnd: [number, number];
  seconds: number;
}

export interface PayEthOutcome {
  failures: string[];
  summary: PayEthSummary | null;
}

const rateOf = (c: Pick<Calls, 'times' | 'wallMs'>): Rate => ({
  calls: c.times.length,
  perSec: Math.round(perSec(c.times.length, c.wallMs)),
  p50Ms: round(median(c.times), 2),
  p99Ms: round(quantile(c.times, 0.99), 2),
});

// ── Counting the node calls payserv makes ──

interface NodeCalls {
  calls: number;
  /** Summed time from each call to its reply's headers. */
  waitMs: number;
  byMethod: Map<string, { calls: number; ms: number }>;
}

/**
 * Counts the JSON-RPC calls this process makes by fetch to `url`, and the time to each reply's headers, until
 * stop(). viem's http transport looks fetch up at each call, so the driver's calls go through this one.
 */
function countNodeCalls(url: string): { counted: NodeCalls; stop(): void } {
  const original = globalThis.fetch;
  const counted: NodeCalls = { calls: 0, waitMs: 0, byMethod: new Map() };
  const counting: typeof fetch = async (input, init) => {
    const target = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (target !== url && !target.startsWith(`${url}/`)) return original(input, init);
    const method = typeof init?.body === 'string' ? (/"method":"([^"]+)"/.exec(init.body)?.[1] ?? '?') : '?';
    const t = performance.now();
    try {
      return await original(input, init);
    } finally {
      const ms = performance.now() - t;
      counted.calls++;
      counted.waitMs += ms;
      const m = counted.byMethod.get(method) ?? { calls: 0, ms: 0 };
      m.calls++;
      m.ms += ms;
      counted.byMethod.set(method, m);
    }
  };
  globalThis.fetch = counting;
  return {
    counted,
    stop: () => {
      // Someone else replacing fetch meanwhile would make these counts wrong, and restoring ours would undo theirs.
      if (globalThis.fetch !== counting) throw new Error('countNodeCalls: globalThis.fetch was replaced while counting');
      globalThis.fetch = original;
    },
  };
}

async function counting<T>(url: string, fn: () => Promise<T>): Promise<{ out: T; counted: NodeCalls }> {
  const c = countNodeCalls(url);
  try {
    return { out: await fn(), counted: c.counted };
  } finally {
    c.stop();
  }
}

const perCall = (c: NodeCalls, n: number) => (n > 0 ? c.calls / n : 0);
const methodsText = (c: NodeCalls, n: number) =>
  [...c.byMethod].map(([m, x]) => `${m} ${(x.calls / n).toFixed(x.calls % n ? 2 : 0)}`).join(', ');

// ── The node's own rate ──

const randomAddress = () => `0x${randomBytes(20).toString('hex')}` as Hex;

/** `n` plain transfers from `key`, nonces `fromNonce` on, signed here (never timed): what a wallet hands the node. */
async function signTransfers(key: Hex, fromNonce: number, n: number, value: bigint, maxFeePerGas: bigint): Promise<Hex[]> {
  const account = privateKeyToAccount(key);
  const out: Hex[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await account.signTransaction({
        type: 'eip1559',
        chainId: CHAIN_ID,
        nonce: fromNonce + i,
        to: randomAddress(),
        value,
        gas: GAS_TRANSFER,
        maxFeePerGas,
        maxPriorityFeePerGas: RAW_PRIORITY_FEE_WEI,
      }),
    );
  }
  return out;
}

/** eth_sendRawTransaction of each, one after the other, as the driver sends (viem, http, no retries); each reply must be its hash. */
async function sendEach(client: PublicClient, raws: readonly Hex[], label: string): Promise<Calls> {
  const times: number[] = [];
  const replies = new Map<string, number>();
  const odd: string[] = [];
  const tick = throttled();
  const t0 = performance.now();
  for (const raw of raws) {
    const t = performance.now();
    let reply: string;
    try {
      const hash = await client.request({ method: 'eth_sendRawTransaction', params: [raw] });
      reply = hash === keccak256(raw) ? 'ACCEPTED' : 'WRONG_HASH';
    } catch (e) {
      reply = 'REFUSED';
      if (odd.length < 5) odd.push((e as Error).message.split('\n')[0] ?? '?');
    }
    times.push(performance.now() - t);
    replies.set(reply, (replies.get(reply) ?? 0) + 1);
    tick(() => `${label}: ${fmt.int(times.length)} / ${fmt.int(raws.length)}`);
  }
  return { times, wallMs: performance.now() - t0, replies, odd };
}

export async function runPayEthSection(db: Db, where: string, stateDir: string, pki: Pki, s: PayEthSettings): Promise<PayEthOutcome> {
  const t0 = performance.now();
  const loadStart = loadavg()[0] as number;
  const n = s.withdrawals;
  heading(
    `8. Ethereum payouts on anvil (payserv in process, called directly; ${fmt.int(n)} withdrawals, automine, ${CONFIRMATIONS} confirmations)`,
  );
  const { failures, loud } = failureReporter('pay-eth', line);
  line('database', `${db.kind}: ${where}`);

  progress('pay-eth: starting anvil');
  let anvil: Anvil;
  try {
    anvil = await startAnvil({ chainId: CHAIN_ID });
  } catch (e) {
    loud(`anvil did not start (BENCH_PAY_ETH=0 skips this section): ${(e as Error).message}`);
    return { failures, summary: null };
  }
  try {
    const url = anvil.url;
    const client = createPublicClient({ transport: http(url, { timeout: NODE_TIMEOUT_MS, retryCount: 0 }) }) as PublicClient;

    // ── The ledger: N miners of the section's coin, each with a reviewed wallet, credits and one request ──
    const coin = await registerCoin(db, pki.admin, {
      tag: TAG,
      name: 'bench Ethereum payouts',
      network: 'mainnet',
      decimals: 18,
      confirmations: CONFIRMATIONS,
      withdrawalFee: parseAmount('0.0005'),
      minWithdrawal: parseAmount('0.01'),
      feeUserId: FEE_USER,
    });
    progress(`pay-eth: ${fmt.int(n)} wallets, credits and withdrawal requests`);
    const recipients = Array.from({ length: n }, () => randomAddress() as string);
    const built = await payRequests(db, pki, coin, PAY_ETH_FIRST_USER, recipients, EARNED, amountOf, 'pay-eth');
    const ids = built.ids;

    // ── payserv in process with its Ethereum driver and a funded hot wallet ──
    const { log, errors } = payservLog();
    await createHotKey(stateDir, TAG);
    const journal = await PaymentJournal.open(journalDir(stateDir));
    const driver = new EvmDriver(settingsFor(url), await loadHotKey(stateDir, TAG), {
      storage: driverStorage(db, pki.trust),
      stateDir,
      log,
      journal,
    });
    await setBalance(url, driver.address, HOT_WALLET_WEI);
    await driver.start();
    const ps = localPayserv(db, stateDir, pki, log, new Map([[TAG, driver]]), {}, journal);
    line('node', `anvil pid ${anvil.pid} at ${url} (automine), chain ${CHAIN_ID}; hot wallet ${driver.address}`);
    line(
      'build: wallets, credits, requests',
      `${fmt.int(built.wallets)} wallets, ${fmt.int(built.credits)} credits in ${built.blocks} block(s), ${fmt.int(ids.length)} requests in ${fmt.s(built.ms)}`,
    );

    // No automatic policy for the coin: Process leaves each request PENDING, for a manager's Approve.
    progress(`pay-eth: Process of ${fmt.int(n)} requests`);
    const processed = await callEach(ids, 'PENDING', (id) => processWithdrawal(ps, id, CALLER), 'pay-eth: Process');
    if ((processed.replies.get('PENDING') ?? 0) !== n)
      loud(`Process replies: ${repliesText(processed.replies)}; e.g. ${processed.odd.slice(0, 3).join(' | ')}`);

    // ── (b) before: the node's rate for pre-signed transfers ──
    const rawKey = generatePrivateKey();
    const rawSender = privateKeyToAccount(rawKey).address;
    await setBalance(url, rawSender, RAW_SENDER_WEI);
    const baseFee = (await client.getBlock({ blockTag: 'latest' })).baseFeePerGas ?? 0n;
    // Twice the base fee now, as wallets do: anvil's nearly empty blocks only ever lower it.
    const rawMaxFee = 2n * baseFee + RAW_PRIORITY_FEE_WEI;
    const rawValue = payValue(coin, { id: 0, amount: amountOf(0), fee: coin.withdrawalFee });
    progress(`pay-eth: signing ${fmt.int(2 * n)} plain transfers with viem (not timed)`);
    const raws = await signTransfers(rawKey, 0, 2 * n, rawValue, rawMaxFee);
    progress(`pay-eth: (b) ${fmt.int(n)} x eth_sendRawTransaction, before (a)`);
    const rawBefore = await sendEach(client, raws.slice(0, n), 'pay-eth: raw send (before)');

    // ── (a) Approve → mine → Check ──
    progress(`pay-eth: (a) Approve of ${fmt.int(n)} withdrawals`);
    const approve = await counting(url, () => callEach(ids, 'SENDING', (id) => approveWithdrawal(ps, id, CALLER), 'pay-eth: Approve'));
    const approved = approve.out;
    if ((approved.replies.get('SENDING') ?? 0) !== n)
      loud(`Approve replies: ${repliesText(approved.replies)}; e.g. ${approved.odd.slice(0, 3).join(' | ')}`);
    // Automine put each payment in a block of its own; the last needs CONFIRMATIONS - 1 more blocks on top.
    const blocksToMine = Math.max(1, CONFIRMATIONS - 1);
    const tMine = performance.now();
    await mine(url, blocksToMine);
    const mineMs = performance.now() - tMine;
    progress(`pay-eth: (a) Check of ${fmt.int(n)} withdrawals`);
    const check = await counting(url, () => callEach(ids, 'SENT', (id) => checkWithdrawal(ps, id, CALLER), 'pay-eth: Check'));
    const checked = check.out;
    if ((checked.replies.get('SENT') ?? 0) !== n)
      loud(`Check replies: ${repliesText(checked.replies)}; e.g. ${checked.odd.slice(0, 3).join(' | ')}`);
    const endToEndMs = approved.wallMs + mineMs + checked.wallMs;

    // ── (b) after ──
    progress(`pay-eth: (b) ${fmt.int(n)} x eth_sendRawTransaction, after (a)`);
    const rawAfter = await sendEach(client, raws.slice(n), 'pay-eth: raw send (after)');
    for (const [when, r] of [
      ['before', rawBefore],
      ['after', rawAfter],
    ] as const) {
      if ((r.replies.get('ACCEPTED') ?? 0) !== n)
        loud(`raw sends ${when} (a): ${repliesText(r.replies)}; e.g. ${r.odd.slice(0, 3).join(' | ')}`);
    }

    // ── What the chain and the ledger say afterwards ──
    progress("pay-eth: reading the recipients' balances");
    const values = ids.map((id, i) => payValue(coin, { id, amount: amountOf(i), fee: coin.withdrawalFee }));
    let paidExactly = 0;
    for (const [i, address] of recipients.entries()) {
      if ((await client.getBalance({ address: address as Hex })) === values[i]) paidExactly++;
    }
    const hotNonce = await client.getTransactionCount({ address: driver.address as Hex, blockTag: 'latest' });
    const rawNonce = await client.getTransactionCount({ address: rawSender, blockTag: 'latest' });
    const byStatus = Object.fromEntries(
      (
        await db.query<{ status: string; n: number }>(
          'SELECT status, count(*)::bigint AS n FROM finances_withdrawal_transaction WHERE coin_id = $1 GROUP BY status ORDER BY status',
          [coin.id],
        )
      ).map((r) => [r.status, Number(r.n)]),
    );
    const [stored] = await db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM payserv_chain_txs WHERE coin_id = $1', [coin.id]);

    // ── Figures ──
    const processRate = rateOf(processed);
    const approveRate = rateOf(approved);
    const checkRate = rateOf(checked);
    const rawAll = { times: [...rawBefore.times, ...rawAfter.times], wallMs: rawBefore.wallMs + rawAfter.wallMs };
    const rawRate = rateOf(rawAll);
    const rawPerSec = perSec(rawAll.times.length, rawAll.wallMs);
    const rawBeforePerSec = perSec(n, rawBefore.wallMs);
    const rawAfterPerSec = perSec(n, rawAfter.wallMs);
    const approvePerSec = perSec(n, approved.wallMs);
    const checkPerSec = perSec(n, checked.wallMs);
    const endToEndPerSec = perSec(n, endToEndMs);
    const sendRaw = approve.counted.byMethod.get('eth_sendRawTransaction');
    const sendRawMeanMs = sendRaw ? sendRaw.ms / sendRaw.calls : 0;
    const meanMs = (c: Calls) => (c.times.length ? c.wallMs / c.times.length : 0);

    line(
      'Process (-> PENDING: no automatic policy)',
      `${fmt.rate(processRate.perSec)}, p50 ${fmt.ms(processRate.p50Ms)}, p99 ${fmt.ms(processRate.p99Ms)}`,
    );
    line(
      '(a) Approve (-> SENDING)',
      `${fmt.rate(approvePerSec)} withdrawals, p50 ${fmt.ms(approveRate.p50Ms)}, p99 ${fmt.ms(approveRate.p99Ms)} (${fmt.s(approved.wallMs)})`,
    );
    line('    node calls per Approve', `${perCall(approve.counted, n).toFixed(1)}: ${methodsText(approve.counted, n)}`);
    line(
      '    waiting on the node per Approve',
      `${fmt.ms(approve.counted.waitMs / n)} of its ${fmt.ms(meanMs(approved))} mean; eth_sendRawTransaction ${fmt.ms(sendRawMeanMs)}`,
    );
    line(`mine the confirmations (anvil_mine ${blocksToMine})`, fmt.ms(mineMs));
    line(
      '(a) Check (-> SENT)',
      `${fmt.rate(checkPerSec)} withdrawals, p50 ${fmt.ms(checkRate.p50Ms)}, p99 ${fmt.ms(checkRate.p99Ms)} (${fmt.s(checked.wallMs)})`,
    );
    line('    node calls per Check', `${perCall(check.counted, n).toFixed(1)}: ${methodsText(check.counted, n)}`);
    line('    waiting on the node per Check', `${fmt.ms(check.counted.waitMs / n)} of its ${fmt.ms(meanMs(checked))} mean`);
    line('(a) end to end (Approve + mine + Check)', `${fmt.rate(endToEndPerSec)} withdrawals (${fmt.s(endToEndMs)} for ${fmt.int(n)})`);
    line(
      '(b) eth_sendRawTransaction, pre-signed',
      `${fmt.rate(rawPerSec)} tx (before ${fmt.rate(rawBeforePerSec)}, after ${fmt.rate(rawAfterPerSec)}), p50 ${fmt.ms(rawRate.p50Ms)}, p99 ${fmt.ms(rawRate.p99Ms)}`,
    );
    line(
      'side by side: Approve | Check | e2e | raw',
      `${fmt.rate(approvePerSec)} | ${fmt.rate(checkPerSec)} | ${fmt.rate(endToEndPerSec)} | ${fmt.rate(rawPerSec)}`,
    );
    line('ratio Approve / raw send', `${fmt.ratio(approvePerSec / rawPerSec)} (x${(rawPerSec / approvePerSec).toFixed(1)} slower)`);
    line('ratio Check / raw send', `${fmt.ratio(checkPerSec / rawPerSec)} (x${(rawPerSec / checkPerSec).toFixed(1)} slower)`);
    line('ratio end to end / raw send', `${fmt.ratio(endToEndPerSec / rawPerSec)} (x${(rawPerSec / endToEndPerSec).toFixed(1)} slower)`);
    line(
      'on chain after the run',
      `${fmt.int(paidExactly)} of ${fmt.int(n)} recipients hold exactly amount - fee; hot wallet nonce ${hotNonce}; raw sender nonce ${rawNonce}`,
    );
    line(
      'ledger after the run',
      `${Object.entries(byStatus)
        .map(([k, v]) => `${fmt.int(v)} ${k}`)
        .join(', ')}; ${stored?.n ?? 0} stored transactions`,
    );
    line('payserv after the run', ps.state.enabled ? 'enabled' : `DISABLED: ${ps.state.status().reason}`);
    line(
      'load average (1 min) at the start / end',
      `${loadStart.toFixed(2)} / ${(loadavg()[0] as number).toFixed(2)} on ${cpus().length} CPUs`,
    );

    if (paidExactly !== n) loud(`${n - paidExactly} of ${n} recipients do not hold exactly amount - fee`);
    if (hotNonce !== n) loud(`the hot wallet sent ${hotNonce} transactions for ${n} withdrawals`);
    if (rawNonce !== 2 * n) loud(`${rawNonce} of the ${2 * n} plain transfers were mined`);
    if (byStatus.sent !== n) loud(`withdrawals by status: ${JSON.stringify(byStatus)}, not ${n} sent`);
    if (Number(stored?.n ?? 0) !== n) loud(`${stored?.n ?? 0} transactions stored for ${n} withdrawals (one each expected)`);
    if (!ps.state.enabled) loud(`payserv disabled itself: ${ps.state.status().reason}`);
    if (errors.length) loud(`payserv logged ${errors.length} error(s), e.g. ${errors[0]}`);

    const nodeOf = (c: NodeCalls) => Object.fromEntries([...c.byMethod].map(([m, x]) => [m, round(x.calls / n, 2)]));
    return {
      failures,
      summary: {
        withdrawals: n,
        backend: db.kind,
        confirmations: CONFIRMATIONS,
        buildSeconds: round(built.ms / 1000),
        process: processRate,
        approve: {
          ...approveRate,
          nodeCallsPerCall: round(perCall(approve.counted, n), 2),
          nodeWaitMsPerCall: round(approve.counted.waitMs / n, 2),
          nodeCalls: nodeOf(approve.counted),
        },
        mineMs: round(mineMs, 1),
        check: {
          ...checkRate,
          nodeCallsPerCall: round(perCall(check.counted, n), 2),
          nodeWaitMsPerCall: round(check.counted.waitMs / n, 2),
          nodeCalls: nodeOf(check.counted),
        },
        endToEndPerSec: Math.round(endToEndPerSec),
        rawSend: { ...rawRate, beforePerSec: Math.round(rawBeforePerSec), afterPerSec: Math.round(rawAfterPerSec) },
        approveSendRawMeanMs: round(sendRawMeanMs, 2),
        ratioApproveToRaw: round(approvePerSec / rawPerSec, 3),
        ratioCheckToRaw: round(checkPerSec / rawPerSec, 3),
        ratioEndToEndToRaw: round(endToEndPerSec / rawPerSec, 3),
        loadAvgStartEnd: [round(loadStart, 2), round(loadavg()[0] as number, 2)],
        seconds: round((performance.now() - t0) / 1000),
      },
    };
  } finally {
    await anvil.stop();
  }
}
