import { intakeRefusal, type IntakeCode, type IntakeParams } from '../api/intake.js';
import { FORGED } from '../chains/reward.js';
import type { Queryable } from '../db/db.js';
import { CREDIT_COLUMNS, INCOME_COLUMNS, toCredit, toIncome } from '../data/rows.js';
import type { Coin, Credit, PoolIncome, Signed } from '../ledger/records.js';
import { AmountError, formatAmount, parseAmount, sum, toBaseUnits, type Amount } from '../money/amount.js';
import type { LedgerView } from '../verify/view.js';
import { creditBlock } from '../writer/blocks.js';
import { blockSubject, INTAKE_ALERT } from './alerts.js';
import type { CoinCheck, Intake } from './context.js';
import { blockFaults, decoded, integrityRefusal } from './integrity.js';
import { intakeView, isUniqueViolation, verifiedCoin } from './ledger.js';

// Blocks.Credit: one block's pool income, its miners' credits and the pool fee, signed by admin in one
// transaction, once the block's input adds up, the coin's node shows it on the canonical chain, matured,
// mined to the pool and paying at least the income. Idempotent by (coin, hash): the same credits again
// answer the income already written; different ones are a conflict. Nothing is written on a refusal.

interface Claim {
  hash: string;
  /** The pool's height of the block, if it said. */
  height: number | undefined;
  income: Amount;
  poolFee: Amount;
  shares: Array<{ userId: number; amount: Amount }>;
}

/** The block as asked, its sums checked; refusals name what is wrong. */
function claimOf(it: Intake, p: IntakeParams<'Blocks.Credit'>): Claim {
  if (p.credits.length > it.creditsPerBlockMax)
    throw intakeRefusal('too_many_credits', `block has ${p.credits.length} credits, more than the ${it.creditsPerBlockMax} allowed`);
  const seen = new Set<number>();
  const shares = p.credits.map((c, i) => {
    if (seen.has(c.user)) throw intakeRefusal('duplicate_user', `credits[${i}]: user ${c.user} is credited twice`);
    seen.add(c.user);
    const amount = parseAmount(c.amount, `credits[${i}].amount`);
    if (amount <= 0n) throw intakeRefusal('bad_amount', `credits[${i}].amount: must be more than 0, got ${c.amount}`);
    return { userId: c.user, amount };
  });
  const income = parseAmount(p.income, 'income');
  const poolFee = parseAmount(p.poolFee, 'poolFee');
  const total = sum([...shares.map((s) => s.amount), poolFee]);
  if (total !== income)
    throw intakeRefusal(
      'sum_mismatch',
      `the credits plus the pool fee are ${formatAmount(total)}, the income is ${formatAmount(income)}: they must be equal`,
      { credited: formatAmount(total), income: formatAmount(income) },
    );
  return { hash: `0x${p.hash.replace(/^0x/, '').toLowerCase()}`, height: p.height, income, poolFee, shares };
}

/** Every amount in whole base units of the coin (wei, zatoshi): what the chain can have paid. */
function checkUnits(coin: Signed<Coin>, c: Claim): bigint {
  try {
    for (const s of c.shares) toBaseUnits(s.amount, coin.decimals);
    toBaseUnits(c.poolFee, coin.decimals);
    return toBaseUnits(c.income, coin.decimals);
  } catch (e) {
    if (e instanceof AmountError) throw intakeRefusal('bad_amount', `${coin.tag} has ${coin.decimals} decimals: ${e.message}`);
    throw e;
  }
}

/** The block's rows as the database holds them: its income (none, or more when tampered with) and the credits under its hash. */
async function writtenBlock(
  q: Queryable,
  coinId: number,
  hash: string,
): Promise<{ incomes: Signed<PoolIncome>[]; credits: Signed<Credit>[] }> {
  const incomes = await q.query(
    `SELECT ${INCOME_COLUMNS} FROM finances_proxypool_transactions WHERE coin_id = $1 AND block_hash = $2 AND kind = 'block' ORDER BY id`,
    [coinId, hash],
  );
  if (!incomes.length) return { incomes: [], credits: [] };
  const credits = await q.query(
    `SELECT ${CREDIT_COLUMNS} FROM finances_user_balance_transaction WHERE coin_id = $1 AND block_hash = $2 ORDER BY id`,
    [coinId, hash],
  );
  return { incomes: incomes.map(toIncome), credits: credits.map(toCredit) };
}

/** Credits as "type:user=amount", sorted: the same block asked again has the same ones. */
const creditKeys = (credits: ReadonlyArray<{ type: string; userId: number; amount: Amount }>): string[] =>
  credits.map((c) => `${c.type}:${c.userId}=${formatAmount(c.amount)}`).sort();

function askedCredits(coin: Signed<Coin>, c: Claim): string[] {
  const out = c.shares.map((s) => ({ type: 'block', userId: s.userId, amount: s.amount }));
  if (c.poolFee > 0n) out.push({ type: 'fee', userId: coin.feeUserId, amount: c.poolFee });
  return creditKeys(out);
}

/** Already credited: rows that verify and are the same credits answer the income there is; other ones are a conflict. */
async function already(it: Intake, view: LedgerView, coin: Signed<Coin>, c: Claim) {
  const subject = `block ${c.hash} of ${coin.tag}`;
  const there = await decoded(subject, () => writtenBlock(it.db, coin.id, c.hash));
  const [income] = there.incomes;
  if (!income) return null;
  // Planted rows must not stand in for the block: the pool would never write the real credits.
  const faults = blockFaults(view.book, there.incomes, there.credits);
  if (faults.length) throw integrityRefusal(subject, faults, { coin: coin.tag, block: c.hash });
  if (creditKeys(there.credits).join('\n') !== askedCredits(coin, c).join('\n'))
    throw intakeRefusal('conflict', `${subject} is already credited with other credits: nothing changed`, { incomeId: income.id });
  return { already: true, incomeId: income.id, credits: there.credits.length };
}

/** A block the chain shows, at a height the claim may not have: below the coin's first height, or not the pool's. */
function heightProblem(check: CoinCheck, chainHeight: bigint, asked: number | undefined): { code: IntakeCode; reason: string } | null {
  if (chainHeight < check.firstHeight)
    return {
      code: 'block_before_start',
      reason: `the block is at height ${chainHeight}, below first_height ${check.firstHeight}: the pool's own payer paid those`,
    };
  if (asked !== undefined && BigInt(asked) !== chainHeight)
    return { code: 'block_height_mismatch', reason: `the pool says height ${asked}, the chain has the block at ${chainHeight}` };
  return null;
}

/**
 * A refused claim, logged at warn each time. One the chain contradicts (the pool's database or back end may be
 * compromised) is alerted too, once per block: refused again each call or adapter interval, alerted once.
 */
function refuse(it: Intake, coin: Signed<Coin>, c: Claim, r: { code: IntakeCode; reason: string }, forged: boolean): never {
  const facts = { coin: coin.tag, block: c.hash, code: r.code, income: formatAmount(c.income), reason: r.reason };
  if (forged) {
    it.log.warn({ ...facts, alert: INTAKE_ALERT.blockForged }, 'a block the chain contradicts was refused');
    it.alerts.once(INTAKE_ALERT.blockForged, blockSubject(coin.tag, c.hash), `block ${c.hash} of ${coin.tag} refused: ${r.reason}`, facts);
  } else it.log.warn(facts, 'block not credited yet');
  throw intakeRefusal(r.code, r.reason, { coin: coin.tag, block: c.hash });
}

async function checkOnChain(it: Intake, check: CoinCheck, coin: Signed<Coin>, c: Claim, income: bigint): Promise<void> {
  const v = await check.checker.check({ hash: c.hash, income }, coin.confirmations);
  if (!v.ok) refuse(it, coin, c, v, FORGED.has(v.code));
  const wrong = heightProblem(check, v.height, c.height);
  if (wrong) refuse(it, coin, c, wrong, true);
  it.log.info(
    { coin: coin.tag, block: c.hash, height: String(v.height), reward: String(v.reward), income: String(income) },
    'block reward checked',
  );
}

/** An amount out of the ledger's range (a sum past NUMERIC(50,20)) is bad input, not an internal error. */
function amountsOf(it: Intake, p: IntakeParams<'Blocks.Credit'>): Claim {
  try {
    return claimOf(it, p);
  } catch (e) {
    if (e instanceof AmountError) throw intakeRefusal('bad_amount', e.message);
    throw e;
  }
}

export async function creditBlockCall(it: Intake, p: IntakeParams<'Blocks.Credit'>) {
  const claim = amountsOf(it, p);
  const view = await intakeView(it, it.db);
  const coin = verifiedCoin(view, p.coin);
  if (claim.shares.some((s) => s.userId === coin.feeUserId))
    throw intakeRefusal('duplicate_user', `user ${coin.feeUserId} is ${coin.tag}'s fee user: it gets the pool fee, not a miner's credit`);
  const income = checkUnits(coin, claim);
  const done = await already(it, view, coin, claim);
  if (done) return done;
  const check = it.checkers.get(coin.tag);
  if (!check)
    throw intakeRefusal(
      'no_reward_check',
      `no [coins.${coin.tag}] node in the intake's configuration (a chain = "btc" table has none): blocks cannot be checked`,
    );
  if (check.decimals !== coin.decimals)
    throw intakeRefusal('no_reward_check', `coin ${coin.tag} has ${coin.decimals} decimals, its chain counts in ${check.decimals}`);
  await checkOnChain(it, check, coin, claim, income);
  try {
    const r = await creditBlock(it.db, it.signers.admin, coin, { blockHash: claim.hash, shares: claim.shares, poolFee: claim.poolFee });
    it.log.info(
      { coin: coin.tag, block: claim.hash, incomeId: r.income.id, credits: r.credits.length, income: formatAmount(r.income.amount) },
      'block credited',
    );
    return { already: false, incomeId: r.income.id, credits: r.credits.length };
  } catch (e) {
    // Another call credited it meanwhile: the same answer as a retry.
    if (isUniqueViolation(e)) {
      const again = await already(it, view, coin, claim);
      if (again) return again;
    }
    throw e;
  }
}
