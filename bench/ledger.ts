// Builds the bench ledgers through the writer only (creditBlock / appendIncomes), signed by the admin
// role of a fresh PKI, exactly as the pool's back end would write them.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Db } from '../src/db/db.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { fromBaseUnits, parseAmount, type Amount } from '../src/money/amount.js';
import { initPki, loadSigner, loadTrust, pkiPaths } from '../src/esman/pki-files.js';
import { registerCert } from '../src/writer/certs.js';
import { SIGNER_ROLES } from '../src/pki/roles.js';
import type { Signer } from '../src/pki/signer.js';
import type { Trust } from '../src/pki/trust.js';
import { creditBlock } from '../src/writer/blocks.js';
import { registerCoin } from '../src/writer/coins.js';
import { appendIncomes, CREDITS_PER_BLOCK_MAX, type CreditShare, type IncomeEntry } from '../src/writer/credits.js';

export const FEE_USER = 1;
/** Users of the many-accounts ledger: FIRST_USER, FIRST_USER + 1, … */
export const FIRST_USER = 1001;
/** The single-account histories and their block companions live far from those. */
export const BIG_USER = 900_000_001;
export const SMALL_USER = 900_000_002;
const OTHERS_FIRST = 900_100_000;
const OTHERS_POOL = 1000;

export interface Pki {
  trust: Trust;
  admin: Signer;
  payserv: Signer;
  /** Signs withdrawal requests, as the pool's back end does (the Process section). */
  autopay: Signer;
  /** PEM of the admin signer's certificate (the key every credit here is signed with). */
  adminCertPem: string;
}

export async function setUpPki(stateDir: string, db: Db): Promise<Pki> {
  await initPki(stateDir, { rootDays: 3650, leafDays: 825 });
  const trust = loadTrust(stateDir);
  for (const role of SIGNER_ROLES) await registerCert(db, trust, readFileSync(pkiPaths(stateDir).signerCert(role), 'utf8'));
  return {
    trust,
    admin: loadSigner(stateDir, 'admin'),
    payserv: loadSigner(stateDir, 'payserv'),
    autopay: loadSigner(stateDir, 'autopay'),
    adminCertPem: readFileSync(pkiPaths(stateDir).signerCert('admin'), 'utf8'),
  };
}

export async function setUpCoin(db: Db, admin: Signer, tag: string): Promise<Signed<Coin>> {
  return registerCoin(db, admin, {
    tag,
    name: `bench ${tag}`,
    network: 'mainnet',
    decimals: 8,
    confirmations: 6,
    withdrawalFee: parseAmount('0.001'),
    minWithdrawal: parseAmount('0.01'),
    feeUserId: FEE_USER,
  });
}

const blockHash = () => `0x${randomBytes(32).toString('hex')}`;
/** A varied, positive amount in the coin's base units (8 decimals). */
const amountOf = (i: number): Amount => fromBaseUnits(BigInt(1_000 + ((i * 7919) % 1_000_000)), 8);

export interface BuildReport {
  blocks: number;
  /** Every credit row written: miners' credits plus the pool's fee credits. */
  rows: number;
  /** Pool-income rows written (one per block). */
  incomeRows: number;
  ms: number;
}

export interface ManyAccountsPlan {
  credits: number;
  accounts: number;
  blockSize: number;
}

export function planManyAccounts(credits: number, creditsPerAccount: number, blockSize: number): ManyAccountsPlan {
  const accounts = Math.max(1, Math.ceil(credits / creditsPerAccount));
  // A block credits each user at most once and holds at most CREDITS_PER_BLOCK_MAX credits, the fee credit included.
  return { credits, accounts, blockSize: Math.max(1, Math.min(blockSize, accounts, CREDITS_PER_BLOCK_MAX - 1)) };
}

/**
 * The many-accounts ledger: `credits` miner credits spread round-robin over `accounts` users, in blocks
 * of `blockSize` miners plus the pool's fee credit, one block per transaction (creditBlock, as the back end does).
 */
export async function buildManyAccounts(
  db: Db,
  admin: Signer,
  coin: Signed<Coin>,
  plan: ManyAccountsPlan,
  onProgress: (rows: number, blocks: number) => void,
): Promise<BuildReport> {
  const t0 = performance.now();
  let next = 0;
  let written = 0;
  const report: BuildReport = { blocks: 0, rows: 0, incomeRows: 0, ms: 0 };
  while (written < plan.credits) {
    const n = Math.min(plan.blockSize, plan.credits - written);
    const shares = Array.from({ length: n }, (_, k) => {
      const userId = FIRST_USER + ((next + k) % plan.accounts);
      return { userId, amount: amountOf(written + k) };
    });
    next = (next + n) % plan.accounts;
    const r = await creditBlock(db, admin, coin, {
      blockHash: blockHash(),
      shares,
      poolFee: fromBaseUnits(BigInt(1000 + report.blocks), 8),
    });
    written += n;
    report.blocks++;
    report.incomeRows++;
    report.rows += r.credits.length;
    onProgress(report.rows, report.blocks);
  }
  report.ms = performance.now() - t0;
  return report;
}

export interface SingleAccountReport extends BuildReport {
  /** Credits of BIG_USER written (may stop short of the target when the time budget runs out). */
  bigRows: number;
  smallRows: number;
  /** Blocks per transaction used. */
  blocksPerTx: number;
  stoppedByBudget: boolean;
}

/**
 * One account credited in `bigTarget` blocks; the small account in the first `smallTarget` of them; each
 * block also credits `others` users from a rotating pool. Many blocks (each its own income row, chained
 * and signed) go into one appendIncomes call, since a transaction per tiny block is what would dominate. Stops early, at a transaction boundary, when `budgetMs` is spent.
 */
export async function buildSingleAccounts(
  db: Db,
  admin: Signer,
  coin: Signed<Coin>,
  o: { bigTarget: number; smallTarget: number; others: number; blocksPerTx: number; budgetMs: number },
  onProgress: (r: SingleAccountReport) => void,
): Promise<SingleAccountReport> {
  const t0 = performance.now();
  const r: SingleAccountReport = {
    blocks: 0,
    rows: 0,
    incomeRows: 0,
    ms: 0,
    bigRows: 0,
    smallRows: 0,
    blocksPerTx: o.blocksPerTx,
    stoppedByBudget: false,
  };
  const total = Math.max(o.bigTarget, o.smallTarget);
  let other = 0;
  while (r.blocks < total) {
    if (r.smallRows >= o.smallTarget && performance.now() - t0 > o.budgetMs) {
      r.stoppedByBudget = true;
      break;
    }
    const inTx = Math.min(o.blocksPerTx, total - r.blocks);
    const entries: IncomeEntry[] = [];
    for (let k = 0; k < inTx; k++) {
      const b = r.blocks + k;
      const shares: CreditShare[] = [];
      if (b < o.bigTarget) shares.push({ userId: BIG_USER, amount: amountOf(b), type: 'block' });
      if (b < o.smallTarget) shares.push({ userId: SMALL_USER, amount: amountOf(b + 1), type: 'block' });
      for (let j = 0; j < o.others; j++) {
        shares.push({ userId: OTHERS_FIRST + (other++ % OTHERS_POOL), amount: amountOf(b + 2 + j), type: 'block' });
      }
      entries.push({ coinId: coin.id, blockHash: blockHash(), kind: 'block', shares });
    }
    // Many blocks in one writer call: one statement per table, as a pool catching up would append them.
    await db.transaction((tx) => appendIncomes(tx, admin, entries));
    for (let k = 0; k < inTx; k++) {
      const b = r.blocks + k;
      if (b < o.bigTarget) r.bigRows++;
      if (b < o.smallTarget) r.smallRows++;
      r.rows += (b < o.bigTarget ? 1 : 0) + (b < o.smallTarget ? 1 : 0) + o.others;
    }
    r.blocks += inTx;
    r.incomeRows += inTx;
    onProgress(r);
  }
  r.ms = performance.now() - t0;
  return r;
}

/** `n` new blocks, each crediting every one of `users` once, one block per transaction (creditBlock, no fee). */
export async function creditNewBlocks(db: Db, admin: Signer, coin: Signed<Coin>, users: readonly number[], n: number): Promise<void> {
  for (let b = 0; b < n; b++) {
    await creditBlock(db, admin, coin, {
      blockHash: blockHash(),
      shares: users.map((userId, i) => ({ userId, amount: amountOf(b * 31 + i) })),
      poolFee: 0n as Amount,
    });
  }
}
