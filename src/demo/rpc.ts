// The demo's second half: payserv as the pool runs it, driven over mutual-TLS JSON-RPC by the pool's
// admin back end and by an operator's pscli, with an attack that stops payouts, and withdrawals paid
// on-chain: ETH on anvil (a local Ethereum node), ZEC on the Zcash node stand-in.
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { anvilRpc, mine as mineEth, setBalance, startAnvil, type Anvil } from '../devnet/anvil.js';
import { startZcashStandin, type ZcashStandin } from '../devnet/zcash-standin.js';
import { loadConfig, type Config } from '../config/load.js';
import { serviceShapes } from '../config/schema.js';
import type { Db } from '../db/db.js';
import type { Coin, Signed, Withdrawal } from '../ledger/records.js';
import { createLogger } from '../log/index.js';
import { formatAmount, fromBaseUnits, sub } from '../money/amount.js';
import { payValue } from '../payserv/payments/value.js';
import type { PayoutResult } from '../api/payserv.js';
import { replyLine } from '../api/reply.js';
import { collectAuditProblems } from '../payserv/audit.js';
import type { SendCoinResult } from '../payserv/payouts.js';
import { startPayserv, type RunningPayserv } from '../app/service.js';
import { pkiPaths } from '../esman/pki-files.js';
import { RpcClient } from '../rpc/client.js';
import { RpcError } from '../api/jsonrpc.js';
import { getWithdrawal, loadCoins } from '../store/reads.js';
import { AUTOPAY_THRESHOLD, demoAutopay } from './autopay.js';
import { spawnManager, ZCASH_RPC_ITEM, type DemoKeys, type TlsPair } from './keys.js';

type Out = (s?: string) => void;
const secs = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/** anvil's own chain id, passed explicitly to the node and to payserv's [coins.ETH]. */
const ANVIL_CHAIN_ID = 31337;
/** A loaded 2-core machine can take a while to bring anvil up. */
const ANVIL_READY_TIMEOUT_MS = 30_000;
/** Rounds of PayServ.Check (one more block mined on each chain between rounds) before an unconfirmed payment is a failure. */
const CHECK_ROUNDS_MAX = 3;
/** The requests of each coin the demo processes and pays. */
const REQUESTS_PER_COIN = 20;

interface Chains {
  anvil: Anvil;
  zcash: ZcashStandin;
}

function clientFor(stateDir: string, pair: TlsPair, port: number): RpcClient {
  return new RpcClient({
    host: '127.0.0.1',
    port,
    timeoutMs: 60_000,
    tls: { ...pair, caPem: readFileSync(pkiPaths(stateDir).root, 'utf8') },
  });
}

/** Starts the two chains, runs payserv over RPC against them, and stops both however that ends. */
export async function demoOverRpc(db: Db, stateDir: string, keys: DemoKeys, out: Out): Promise<boolean> {
  let anvil: Anvil | undefined;
  let zcash: ZcashStandin | undefined;
  try {
    anvil = await startAnvil({ chainId: ANVIL_CHAIN_ID, readyTimeoutMs: ANVIL_READY_TIMEOUT_MS });
    // The node asks for credentials, as zcashd does; payserv reads them from the store (node_auth_item).
    zcash = await startZcashStandin({ network: 'mainnet', rpcUser: keys.zcashRpc.user, rpcPassword: keys.zcashRpc.password });
    return await payservOverRpc(db, stateDir, keys, out, { anvil, zcash });
  } finally {
    // A node left running would hold its port (anvil) or keep the demo's process alive (the stand-in).
    await zcash?.stop().catch((e: Error) => process.stderr.write(`demo: stopping the Zcash stand-in: ${e.message}\n`));
    await anvil?.stop().catch((e: Error) => process.stderr.write(`demo: stopping anvil: ${e.message}\n`));
  }
}

/** payserv's [coins.ETH] and [coins.ZEC] tables, through the configuration's own schema so every default is the one payserv.toml gets. */
function coinTables(chains: Chains): Config<'payserv'>['coins'] {
  return serviceShapes.payserv.coins.parse({
    // min_peers 0: each node is alone on its loopback port.
    ETH: { chain: 'evm', node_url: chains.anvil.url, chain_id: ANVIL_CHAIN_ID, min_peers: 0 },
    ZEC: { chain: 'zcash', node_url: chains.zcash.endpoint, node_auth_item: ZCASH_RPC_ITEM, network: 'mainnet', min_peers: 0 },
  });
}

/**
 * payserv started as in production: locked until esman manager hands it the key, which the demo's
 * operator allows at the prompt; its log goes to <state>/payserv.log.
 */
async function unlockedPayserv(config: Config<'payserv'>, db: Db, keys: DemoKeys, out: Out): Promise<RunningPayserv> {
  const manager = await spawnManager(keys, (prompt) => {
    out(`   esman manager: ${prompt}y`);
    return 'y';
  });
  try {
    config.keys.store = keys.storage;
    config.keys.manager = manager.endpoint;
    config.keys.retry_ms = 200;
    const logFile = createWriteStream(join(config.stateDir, 'payserv.log'), { flags: 'a', mode: 0o600 });
    const running = await startPayserv(config, createLogger('payserv', 'info', { write: (s: string) => void logFile.write(s) }), db);
    out(
      `   esman manager handed out its key and exited (${await manager.exited}); payserv opened the store and holds its keys in memory only`,
    );
    return running;
  } finally {
    manager.stop();
  }
}

async function payservOverRpc(db: Db, stateDir: string, keys: DemoKeys, out: Out, chains: Chains): Promise<boolean> {
  const config = await loadConfig('payserv', undefined, { stateDir, env: {} });
  // An automatic-approval rule for ZEC only, so both outcomes show: ZEC requests are approved and paid
  // together by SendCoin, ETH requests wait for a manager, whose Approve pays each one.
  config.policy = { ZEC: { amount_max: '0.5', user_daily_max: '1', coin_daily_max: '100', wallet_age_hours_min: 0 } };
  config.coins = coinTables(chains);
  config.rpc.port = 0;
  out(`8. payserv starts locked and asks esman manager for the key (an operator allows it; its log: ${join(stateDir, 'payserv.log')}):`);
  const running = await unlockedPayserv(config, db, keys, out);
  const backend = clientFor(stateDir, keys.tls.backend, running.server.port);
  const pscli = clientFor(stateDir, keys.tls.pscli, running.server.port);
  try {
    out(
      `   payserv listening on 127.0.0.1:${running.server.port} (TLS 1.3, client certificates of the project's CA only); payouts start disabled:`,
    );
    out(
      `   it pays ETH on anvil (chain ${ANVIL_CHAIN_ID}, ${chains.anvil.url}) and ZEC on the Zcash node stand-in (mainnet, ${chains.zcash.endpoint}), ` +
        `from the hot wallets esman generated in the store (${Object.entries(keys.wallets)
          .map(([c, a]) => `${c} ${a}`)
          .join(', ')})`,
    );
    // 20 requests of each coin: ZEC has an approval rule, ETH none, so both outcomes show.
    const first = (
      await db.query<{ id: number }>(
        `SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY coin_id ORDER BY id) AS n FROM finances_withdrawal_transaction WHERE status = 'processing') r
       WHERE n <= $1 ORDER BY id`,
        [REQUESTS_PER_COIN],
      )
    ).map((r) => r.id);
    const refused = await backend.call<PayoutResult>('PayServ.Process', [first[0] as number]);
    out(`   back end → PayServ.Process(${first[0]}): ${replyLine(refused)}`);
    const check = await pscli.call<{ clean: boolean }>('Check.BalanceErrors');
    await pscli.call('Utils.Enable');
    out(`   operator → Check.BalanceErrors: ${check.clean ? 'clean' : 'PROBLEMS'}; Utils.Enable: payouts enabled`);
    const forbidden = await backend.call('Utils.Disable').then(
      () => 'allowed?!',
      (e: RpcError) => `refused (${e.code}: ${e.message})`,
    );
    out(`   back end → Utils.Disable: ${forbidden}`);

    const tally = new Map<string, number>();
    const pending: number[] = [];
    const approved: number[] = [];
    for (const id of first) {
      const r = await backend.call<PayoutResult>('PayServ.Process', [id]);
      tally.set(r.reply, (tally.get(r.reply) ?? 0) + 1);
      if (r.reply === 'PENDING') pending.push(id);
      if (r.reply === 'APPROVED') approved.push(id);
    }
    out(`9. back end → PayServ.Process on ${first.length} requests: ${[...tally].map(([k, v]) => `${v} ${k}`).join(', ')}`);

    // The attack: one credit of a user with an open request is raised in place (triggers dropped first).
    const [victim] = await db.query<{ id: number; user_id: number; coin_id: number; credit: number }>(
      `SELECT w.id, w.user_id, w.coin_id, (SELECT max(c.id) FROM finances_user_balance_transaction c WHERE c.user_id = w.user_id AND c.coin_id = w.coin_id) AS credit
       FROM finances_withdrawal_transaction w WHERE w.status = 'processing' ORDER BY w.id LIMIT 1`,
    );
    if (victim) {
      const raise = `ALTER TABLE finances_user_balance_transaction DISABLE TRIGGER USER;
        UPDATE finances_user_balance_transaction SET amount = amount + 1000 WHERE id = ${victim.credit};
        ALTER TABLE finances_user_balance_transaction ENABLE TRIGGER USER;`;
      await db.exec(raise);
      const r = await backend.call<PayoutResult>('PayServ.Process', [victim.id]);
      const s = await pscli.call<{ enabled: boolean; reason: string }>('Utils.Status');
      out(
        `10. attacker adds 1000 to credit ${victim.credit} of user ${victim.user_id}; back end → PayServ.Process(${victim.id}): ${replyLine(r)}`,
      );
      out(`    payserv is now ${s.enabled ? 'ENABLED?!' : 'DISABLED'}: ${s.reason}`);
      const after = pending[0] ? await pscli.call<PayoutResult>('PayServ.Approve', [pending[0]]) : null;
      if (after) out(`    any other payout meanwhile, e.g. PayServ.Approve(${pending[0]}): ${replyLine(after)}, nothing signed or sent`);
      await db.exec(raise.replace('amount + 1000', 'amount - 1000'));
      const clean = await pscli.call<{ clean: boolean }>('Check.BalanceErrors');
      await pscli.call('Utils.Enable');
      out(`    the operator restores the row, the checks are ${clean.clean ? 'clean' : 'NOT clean'}, and enables payouts again`);
    }

    const paidOk = await payOnChain(
      db,
      running,
      { ...chains, caps: feeCaps(config.coins) },
      { backend, pscli },
      { pending, approved },
      out,
    );
    await running.stop();
    const autopayOk = await withAutopay(config, db, keys, chains, out);
    const audit = await collectAuditProblems(db, stateDir);
    const [{ n }] = (await db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM payserv_audit')) as [{ n: number }];
    out(
      `13. audit trail: ${n} calls recorded in a hash chain, ${audit.length ? `${audit.length} PROBLEMS` : 'verified (pscli audit verify)'}`,
    );
    return paidOk && autopayOk && audit.length === 0;
  } finally {
    backend.close();
    pscli.close();
    await running.stop().catch(() => undefined);
  }
}

/**
 * The operator turns autopay on for ETH, with the approval rule it pays under (autopay's requests pass
 * Process like any other), and restarts payserv: esman manager again, the checks, enable, the runs.
 */
async function withAutopay(config: Config<'payserv'>, db: Db, keys: DemoKeys, chains: Chains, out: Out): Promise<boolean> {
  config.policy = { ...config.policy, ETH: { amount_max: '5', user_daily_max: '10', coin_daily_max: '1000', wallet_age_hours_min: 0 } };
  // The demo asks for each run itself (pscli autopay run), so the timer's interval is long.
  config.autopay = {
    enabled: true,
    interval_s: 3600,
    require_peers: 0,
    max_per_run: 100,
    coins: { ETH: { threshold: AUTOPAY_THRESHOLD } },
  };
  out(
    `12. the operator turns on autopay for ETH ([autopay.coins.ETH] threshold = "${AUTOPAY_THRESHOLD}", and [policy.ETH] for its approvals) and restarts payserv:`,
  );
  const running = await unlockedPayserv(config, db, keys, out);
  const pscli = clientFor(config.stateDir, keys.tls.pscli, running.server.port);
  try {
    const check = await pscli.call<{ clean: boolean }>('Check.BalanceErrors');
    await pscli.call('Utils.Enable');
    out(`    operator → Check.BalanceErrors: ${check.clean ? 'clean' : 'PROBLEMS'}; Utils.Enable`);
    return check.clean && (await demoAutopay(db, running, pscli, chains.anvil.url, keys.signers.admin, out));
  } finally {
    pscli.close();
    await running.stop();
  }
}

/** One withdrawal the demo pays, and what the chain must show for it. */
interface Payout {
  w: Withdrawal;
  coin: Signed<Coin>;
  /** amount − fee, in the coin's base units (wei, zatoshi). */
  value: bigint;
  last: PayoutResult | null;
  /** The payment's transaction, as the last reply that named one said. */
  txHash: string | null;
}

/**
 * The pending ETH requests approved one by one (each Approve pays its own transaction), the approved
 * ZEC requests paid in one transaction by SendCoin; then the confirmations mined, every payment
 * checked until SENT, and the chains asked whether each address received exactly what was asked.
 */
async function payOnChain(
  db: Db,
  running: RunningPayserv,
  chains: Chains & { caps: FeeCaps },
  rpc: { backend: RpcClient; pscli: RpcClient },
  ids: { pending: number[]; approved: number[] },
  out: Out,
): Promise<boolean> {
  const coins = new Map((await loadCoins(db)).map((c) => [c.id, c]));
  const payouts: Payout[] = [];
  for (const id of [...ids.pending, ...ids.approved]) {
    const w = await getWithdrawal(db, id);
    const coin = w ? coins.get(w.coinId) : undefined;
    if (!w || !coin) throw new Error(`demo: withdrawal ${id} or its coin is missing`);
    payouts.push({ w, coin, value: payValue(coin, w), last: null, txHash: null });
  }
  const eth = payouts.filter((p) => p.coin.tag === 'ETH' && ids.pending.includes(p.w.id));
  const zec = payouts.filter((p) => p.coin.tag === 'ZEC' && ids.approved.includes(p.w.id));
  const ethDriver = running.ps.drivers.get('ETH');
  const zecDriver = running.ps.drivers.get('ZEC');
  if (!ethDriver || !zecDriver) throw new Error('demo: payserv started without its ETH and ZEC drivers');

  // The hot wallets get what these payouts need, plus the most their fees may cost under payserv's caps.
  const ethFund = sumValues(eth) + BigInt(eth.length) * chains.caps.ethGasMaxWei;
  const zecFund = sumValues(zec) + BigInt(Math.ceil(zec.length / zecDriver.maxOutputs)) * chains.caps.zecFeeMaxZat;
  await setBalance(chains.anvil.url, ethDriver.address, ethFund);
  await chains.zcash.fund(zecDriver.address, zecFund);
  out(
    `11. payouts on-chain. Hot wallets funded: ETH ${ethDriver.address} with ${formatUnits(ethFund, 18)} ETH (anvil_setBalance), ` +
      `ZEC ${zecDriver.address} with ${formatUnits(zecFund, 8)} ZEC (one output on the stand-in)`,
  );

  let t0 = performance.now();
  for (const p of eth) record(p, await rpc.pscli.call<PayoutResult>('PayServ.Approve', [p.w.id]));
  out(`    manager → PayServ.Approve on ${eth.length} pending ETH requests: ${tallyOf(eth)} (one transaction each) in ${secs(t0)}`);
  t0 = performance.now();
  const batch = await rpc.backend.call<SendCoinResult>('PayServ.SendCoin', ['ZEC']);
  for (const r of batch.results) {
    const p = zec.find((z) => z.w.id === r.id);
    if (p) record(p, r);
  }
  const zecHashes = new Set(batch.results.map((r) => r.txHash).filter((h) => h));
  out(
    `    back end → PayServ.SendCoin("ZEC"): ${replyLine(batch)}, ${zecHashes.size} transaction${zecHashes.size === 1 ? '' : 's'} in ${secs(t0)}`,
  );

  const confirmations = (tag: string) => [...coins.values()].find((c) => c.tag === tag)?.confirmations ?? 1;
  await mineEth(chains.anvil.url, confirmations('ETH'));
  await chains.zcash.mine(confirmations('ZEC'));
  const sent = [...eth, ...zec];
  t0 = performance.now();
  for (let round = 1; round <= CHECK_ROUNDS_MAX; round++) {
    const open = sent.filter((p) => p.last?.reply === 'SENDING');
    if (!open.length) break;
    if (round > 1) {
      // Not yet confirmed (a block came late): one more block on each chain, then ask again.
      await mineEth(chains.anvil.url, 1);
      await chains.zcash.mine(1);
    }
    for (const p of open) record(p, await rpc.pscli.call<PayoutResult>('PayServ.Check', [p.w.id]));
  }
  out(
    `    mined ${confirmations('ETH')} ETH and ${confirmations('ZEC')} ZEC blocks (the coins' confirmations); operator → PayServ.Check on ${sent.length}: ${tallyOf(sent)} in ${secs(t0)}`,
  );
  showPaid(sent, out);

  const ethAgrees = await chainAgrees(eth, async (a) => BigInt(String(await anvilRpc(chains.anvil.url, 'eth_getBalance', [a, 'latest']))));
  const zecAgrees = await chainAgrees(zec, async (a) => chains.zcash.paidTo(a));
  out(
    `    the chains agree: anvil balances of ${ethAgrees.addresses} ETH recipients ${ethAgrees.ok ? 'equal' : 'DIFFER FROM'} the amounts (${formatUnits(sumValues(eth), 18)} ETH); ` +
      `stand-in paidTo of ${zecAgrees.addresses} ZEC addresses ${zecAgrees.ok ? 'equals' : 'DIFFERS FROM'} them (${formatUnits(sumValues(zec), 8)} ZEC)`,
  );
  const clean = await rpc.pscli.call<{ clean: boolean }>('Check.BalanceErrors');
  out(`    operator → Check.BalanceErrors after the payouts: ${clean.clean ? 'clean' : 'PROBLEMS'}`);
  return ethAgrees.ok && zecAgrees.ok && clean.clean && sent.every((p) => p.last?.reply === 'SENT');
}

/** The most one payment's fee may cost under payserv's [coins] tables, in base units. */
interface FeeCaps {
  /** ETH: gas_limit_max × max_fee_per_gas, per transaction. */
  ethGasMaxWei: bigint;
  /** ZEC: fee_max, per transaction. */
  zecFeeMaxZat: bigint;
}

function feeCaps(coins: Config<'payserv'>['coins']): FeeCaps {
  const { ETH, ZEC } = coins;
  if (ETH?.chain !== 'evm' || ZEC?.chain !== 'zcash')
    throw new Error('demo: [coins.ETH] must be chain "evm" and [coins.ZEC] chain "zcash"');
  return { ethGasMaxWei: BigInt(ETH.gas_limit_max) * BigInt(ETH.max_fee_per_gas), zecFeeMaxZat: BigInt(ZEC.fee_max) };
}

function record(p: Payout, r: PayoutResult): void {
  p.last = r;
  if (r.txHash) p.txHash = r.txHash;
}

const sumValues = (ps: readonly Payout[]) => ps.reduce((s, p) => s + p.value, 0n);
const formatUnits = (units: bigint, decimals: number) => formatAmount(fromBaseUnits(units, decimals));

function tallyOf(ps: readonly Payout[]): string {
  const t = new Map<string, number>();
  for (const p of ps) t.set(p.last?.reply ?? 'not called', (t.get(p.last?.reply ?? 'not called') ?? 0) + 1);
  return [...t].map(([k, v]) => `${v} ${k}`).join(', ');
}

function showPaid(ps: readonly Payout[], out: Out): void {
  out(`    ${'id'.padStart(6)}  coin  ${'address'.padEnd(42)}  ${'amount − fee'.padEnd(22)}  ${'tx hash'.padEnd(66)}  status`);
  for (const p of ps) {
    const r = p.last;
    out(
      `    ${String(p.w.id).padStart(6)}  ${p.coin.tag.padEnd(4)}  ${p.w.address.padEnd(42)}  ${formatAmount(sub(p.w.amount, p.w.fee)).padEnd(22)}  ` +
        `${(p.txHash ?? '-').padEnd(66)}  ${r ? r.reply : 'not called'}${r && r.reply !== 'SENT' && r.message ? `: ${r.message}` : ''}`,
    );
  }
}

/** Whether what the chain says each address received equals the sum of its payouts (a miner may have two requests). */
async function chainAgrees(
  ps: readonly Payout[],
  received: (address: string) => Promise<bigint>,
): Promise<{ ok: boolean; addresses: number }> {
  const want = new Map<string, bigint>();
  for (const p of ps) want.set(p.w.address, (want.get(p.w.address) ?? 0n) + p.value);
  let ok = true;
  for (const [address, value] of want) if ((await received(address)) !== value) ok = false;
  return { ok, addresses: want.size };
}
