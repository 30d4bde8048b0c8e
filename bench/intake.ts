// The ledger intake and a pool adapter's steady state, measured on a database and a PKI of the section's own:
//  (a) Blocks.Credit through the intake's handler (parameters checked as the JSON-RPC server checks them), each
//      block mined to the pool on an anvil of the section's own and checked there, BENCH_INTAKE_CREDITS credits per
//      block, BENCH_INTAKE_BLOCKS blocks one after the other: calls/s and credits/s;
//  (b) one oep Mirror interval over BENCH_MIRROR_ACCOUNTS logins with BENCH_MIRROR_WITHDRAWALS sent withdrawals
//      each, into the local Redis (127.0.0.1:6379, a key prefix of its own, deleted after; no Redis: skipped): the
//      first interval (start-up: every account from the beginning) against a steady-state one (nothing new).
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { INTAKE_METHODS } from '../src/api/intake.js';
import { EthRewardChecker } from '../src/chains/eth/reward.js';
import { anvilRpc, mine, startAnvil, type Anvil } from '../src/devnet/anvil.js';
import type { Db } from '../src/db/db.js';
import { Alerts } from '../src/alerts/alerts.js';
import { AccountHeads } from '../src/intake/heads.js';
import { IntakeAlerts } from '../src/intake/alerts.js';
import type { Intake } from '../src/intake/context.js';
import { dispatchIntake } from '../src/intake/handlers.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { createLogger } from '../src/log/index.js';
import { formatAmount, fromBaseUnits, parseAmount } from '../src/money/amount.js';
import { oepUserId, type OepSettings } from '../src/pools/oep/import.js';
import { Mirror, type MirrorReport } from '../src/pools/oep/mirror.js';
import { registerCoin } from '../src/writer/coins.js';
import { creditBlock } from '../src/writer/blocks.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { changeStatus, requestWithdrawal } from '../src/writer/withdrawals.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { FEE_USER, setUpPki, type Pki } from './ledger.js';
import { fmt, heading, line, progress, round } from './report.js';

export interface IntakeBenchSettings {
  blocks: number;
  creditsPerBlock: number;
  accounts: number;
  withdrawals: number;
}

export interface IntakeSummary {
  credit: { blocks: number; creditsPerBlock: number; callsPerSec: number; creditsPerSec: number };
  mirror: { accounts: number; withdrawals: number; firstMs: number; steadyMs: number; firstRead: number; steadyRead: number } | null;
}

export interface IntakeOutcome {
  summary: IntakeSummary | null;
  failures: string[];
}

const POOL = '0x00000000000000000000000000000000000b0011';
const rate = (n: number, ms: number) => (ms > 0 ? n / (ms / 1000) : 0);

function intakeOf(db: Db, stateDir: string, pki: Pki, anvil: Anvil, creditsMax: number): Intake {
  const checker = new EthRewardChecker({
    tag: 'ETH',
    url: anvil.url,
    chainId: anvil.chainId,
    poolAddress: POOL,
    issuance: () => 2n * 10n ** 18n,
    timeoutMs: 10_000,
  });
  const log = createLogger('intake', 'silent');
  return {
    db,
    stateDir,
    trust: pki.trust,
    signers: { admin: pki.admin, autopay: pki.autopay },
    checkers: new Map([['ETH', { checker, decimals: 18, firstHeight: 0n }]]),
    chains: {},
    creditsPerBlockMax: creditsMax,
    review: 'auto',
    log,
    alerts: new IntakeAlerts(new Alerts({ db, log })),
    heads: new AccountHeads(stateDir),
  };
}

/** Blocks mined to the pool and matured: their hashes. */
async function poolBlocks(anvil: Anvil, n: number): Promise<string[]> {
  await anvilRpc(anvil.url, 'anvil_setCoinbase', [POOL]);
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) {
    await mine(anvil.url, 1);
    hashes.push(((await anvilRpc(anvil.url, 'eth_getBlockByNumber', ['latest', false])) as { hash: string }).hash);
  }
  await mine(anvil.url, 2);
  return hashes;
}

/** (a) Blocks.Credit, one call per block, each crediting `perBlock` users 0.001 ETH. */
async function creditSection(it: Intake, anvil: Anvil, o: IntakeBenchSettings): Promise<IntakeSummary['credit']> {
  const hashes = await poolBlocks(anvil, o.blocks);
  const share = parseAmount('0.001');
  const poolFee = parseAmount('0.01');
  const income = formatAmount(fromBaseUnits(BigInt(o.creditsPerBlock) * 10n ** 15n + 10n ** 16n, 18));
  progress(`intake: ${o.blocks} Blocks.Credit calls of ${o.creditsPerBlock} credits`);
  const t0 = performance.now();
  for (const [b, hash] of hashes.entries()) {
    const credits = Array.from({ length: o.creditsPerBlock }, (_, i) => ({
      user: 10_000 + b * o.creditsPerBlock + i,
      amount: formatAmount(share),
    }));
    const params = INTAKE_METHODS['Blocks.Credit'].parse({ coin: 'ETH', hash, income, credits, poolFee: formatAmount(poolFee) });
    await dispatchIntake(it, 'Blocks.Credit', params);
  }
  const ms = performance.now() - t0;
  return {
    blocks: o.blocks,
    creditsPerBlock: o.creditsPerBlock,
    callsPerSec: round(rate(o.blocks, ms)),
    creditsPerSec: round(rate(o.blocks * o.creditsPerBlock, ms)),
  };
}

/** The mirror's ledger: `accounts` oep logins, one block crediting them all, `withdrawals` sent withdrawals each. */
async function buildMirrorLedger(db: Db, pki: Pki, coin: Signed<Coin>, s: OepSettings, o: IntakeBenchSettings): Promise<void> {
  const users: Array<{ userId: number; walletId: number; login: string }> = [];
  for (let i = 0; i < o.accounts; i++) {
    const login = `0x${randomBytes(20).toString('hex')}`;
    const userId = oepUserId(s, login);
    const w = await addWallet(db, { userId, coinId: coin.id, address: login });
    await signWallet(db, pki.admin, w.id);
    users.push({ userId, walletId: w.id, login });
  }
  await creditBlock(db, pki.admin, coin, {
    blockHash: `0x${randomBytes(32).toString('hex')}`,
    shares: users.map((u) => ({ userId: u.userId, amount: parseAmount(String(o.withdrawals)) })),
    poolFee: parseAmount('0.1'),
  });
  for (const u of users)
    for (let k = 0; k < o.withdrawals; k++) {
      const spec = {
        userId: u.userId,
        coinId: coin.id,
        walletId: u.walletId,
        address: u.login,
        amount: parseAmount('1'),
        fee: coin.withdrawalFee,
      };
      const w = await db.transaction((tx) => requestWithdrawal(tx, pki.autopay, spec));
      await db.transaction((tx) => changeStatus(tx, pki.payserv, w.id, 'processing', { status: 'approved' }));
      const txHash = `0x${randomBytes(32).toString('hex')}`;
      await db.transaction((tx) => changeStatus(tx, pki.payserv, w.id, 'approved', { status: 'sent', txHash }));
    }
}

async function timed(m: Mirror): Promise<{ ms: number; r: MirrorReport }> {
  const t0 = performance.now();
  const r = await m.run();
  return { ms: performance.now() - t0, r };
}

/** (b) One Mirror interval at start-up and one in the steady state; null when no Redis answers on 127.0.0.1:6379. */
async function mirrorSection(it: Intake, pki: Pki, coin: Signed<Coin>, o: IntakeBenchSettings): Promise<IntakeSummary['mirror']> {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, db: 13, lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch {
    progress('mirror: no Redis on 127.0.0.1:6379: skipped');
    redis.disconnect();
    return null;
  }
  const s: OepSettings = {
    prefix: `bench${randomBytes(4).toString('hex')}`,
    coin: 'ETH',
    poolFeeAddress: POOL,
    fromHeight: 0n,
    pageSize: 500,
  };
  try {
    progress(`mirror: building ${o.accounts} logins with ${o.withdrawals} sent withdrawals each`);
    await buildMirrorLedger(it.db, pki, coin, s, o);
    const m = new Mirror(it, redis, s, it.log);
    const first = await timed(m);
    const steady = await timed(m);
    const expected = o.accounts * o.withdrawals;
    if (first.r.steps !== 2 * expected || first.r.skipped || steady.r.steps)
      throw new Error(
        `mirror: ${first.r.steps} steps for ${expected} withdrawals, ${first.r.skipped} accounts skipped, ${steady.r.steps} steps again`,
      );
    return {
      accounts: o.accounts,
      withdrawals: o.withdrawals,
      firstMs: round(first.ms),
      steadyMs: round(steady.ms),
      firstRead: first.r.read,
      steadyRead: steady.r.read,
    };
  } finally {
    const keys = await redis.keys(`${s.prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
}

export async function runIntakeSection(parentDir: string, databaseUrl: string | undefined, o: IntakeBenchSettings): Promise<IntakeOutcome> {
  heading('13. the ledger intake and the oep mirror (bench/intake.ts)');
  const stateDir = await mkdtemp(join(parentDir, 'intake-'));
  let bench: BenchDatabase | null = null;
  let anvil: Anvil | null = null;
  try {
    bench = await openBenchDatabase(stateDir, databaseUrl);
    const pki = await setUpPki(stateDir, bench.db);
    const coin = await registerCoin(bench.db, pki.admin, {
      tag: 'ETH',
      name: 'bench Ethereum',
      network: 'mainnet',
      decimals: 18,
      confirmations: 2,
      withdrawalFee: parseAmount('0.001'),
      minWithdrawal: parseAmount('0.01'),
      feeUserId: FEE_USER,
    });
    anvil = await startAnvil();
    const it = intakeOf(bench.db, stateDir, pki, anvil, o.creditsPerBlock);
    const credit = await creditSection(it, anvil, o);
    line('Blocks.Credit calls', `${fmt.rate(credit.callsPerSec)} (${credit.blocks} blocks of ${fmt.int(credit.creditsPerBlock)} credits)`);
    line('credits signed through the intake', fmt.rate(credit.creditsPerSec));
    const mirror = await mirrorSection(it, pki, coin, o);
    if (mirror) {
      line(
        'oep mirror, first interval (start-up)',
        `${fmt.ms(mirror.firstMs)}: ${fmt.int(mirror.accounts)} accounts, ${fmt.int(mirror.firstRead)} withdrawals read`,
      );
      line('oep mirror, steady-state interval', `${fmt.ms(mirror.steadyMs)}: ${fmt.int(mirror.steadyRead)} withdrawals read`);
    } else line('oep mirror', 'skipped (no Redis on 127.0.0.1:6379)');
    return { summary: { credit, mirror }, failures: [] };
  } catch (e) {
    return { summary: null, failures: [`intake: ${(e as Error).message}`] };
  } finally {
    await anvil?.stop();
    await bench?.dispose();
  }
}
