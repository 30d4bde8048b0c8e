import { FORGED } from '../../chains/reward.js';
import type { Coin, Signed } from '../../ledger/records.js';
import { formatAmount, fromBaseUnits } from '../../money/amount.js';
import { blockSubject, INTAKE_ALERT } from '../../intake/alerts.js';
import { PoolFormatError } from '../errors.js';
import { ensureMinerWallet } from '../miner-wallet.js';
import { derivedUserId } from '../user-id.js';
import { AdapterBug, intakeAddress, intakeBlockHash, intakeCall, intakeHeight } from '../intake-call.js';
import type { McAdapter } from './context.js';
import { decimal28UnitsToBaseUnits, parseDecimal28 } from './decimal.js';
import { blockRewardUsage, parseUsage } from './usage.js';

// MiningCore's confirmed blocks into the signed ledger, through the intake: per block, the
// balance_changes whose usage names its height (the only link MiningCore keeps), summed per address; the
// fee addresses' part and the miners' rounding dust are the pool fee. A block whose credits cannot all be read
// exactly is not imported. The miners' wallets are registered once the intake has credited the block. A block the
// chain refuses may be one the node does not show yet (behind, briefly on another branch): absence is not proof,
// so it is asked again every interval (alerted once), while the cursor moves on.

const PAGE = 500;
/** The intake's refusals that a later interval may not repeat: the block waits, and so does the cursor. */
const RETRY = new Set(['block_immature', 'node_unavailable', 'no_reward_check', 'unknown_coin']);

interface McBlock {
  id: string;
  height: string;
  hash: string | null;
}

interface Claim {
  credits: Array<{ address: string; user: number; units: bigint }>;
  poolFee: bigint;
  income: bigint;
  /** Base units the miners' credits lost to rounding down, moved to the pool fee. */
  dust: bigint;
}

/** retry: the block and the cursor wait; recheck: the chain refused it, asked again each interval behind the cursor. */
type Outcome = 'done' | 'retry' | 'refused' | 'recheck';
type BlockFacts = {
  pool: string;
  coin: string;
  blockId: string;
  height: string;
  block: string | null;
};

/** A block's rows, a negative one (or NaN) included so it is refused rather than left out. */
const CREDITS_SQL = `SELECT address, amount::text AS amount, usage FROM balance_changes
  WHERE poolid = $1 AND amount <> 0 AND (usage = $2 OR usage LIKE $3) ORDER BY id`;

/** The block's credits per address in decimal(28,12) units, exact; a usage, address or amount not read exactly throws. */
async function creditsOf(a: McAdapter, coin: Signed<Coin>, b: McBlock): Promise<Map<string, bigint>> {
  const height = BigInt(b.height);
  const { rows } = await a.mc.query<{ address: string; amount: string; usage: string | null }>(CREDITS_SQL, [
    a.poolId,
    blockRewardUsage(height),
    `Reward for % shares for block ${height}`,
  ]);
  const perAddress = new Map<string, bigint>();
  for (const r of rows) {
    // An address the coin cannot pay still has its credit (its wallet is refused, src/pools/miner-wallet.ts).
    if (!a.feeAddresses.has(r.address)) intakeAddress(r.address, 'balance_changes.address');
    const u = parseUsage(r.usage);
    if (u.kind === 'payment' || u.height !== height)
      throw new PoolFormatError('balance_changes.usage', r.usage ?? 'NULL', `not block ${height}`);
    const units = parseDecimal28(r.amount, 'balance_changes.amount');
    if (units <= 0n) throw new PoolFormatError('balance_changes.amount', r.amount, 'not positive');
    perAddress.set(r.address, (perAddress.get(r.address) ?? 0n) + units);
  }
  return perAddress;
}

/**
 * Each miner's credit rounded DOWN to the coin's base unit (MiningCore's PPLNS shares are finer than a zatoshi);
 * income = the block's total rounded down, and the pool fee what the miners' credits leave of it: the fee
 * addresses' part and every miner's dust. credits + pool fee = income, never more than MiningCore credited.
 */
async function claimOf(a: McAdapter, coin: Signed<Coin>, b: McBlock): Promise<Claim> {
  const base = (units: bigint) => decimal28UnitsToBaseUnits(units, coin.decimals).baseUnits;
  let total = 0n;
  let feeUnits = 0n;
  const credits: Claim['credits'] = [];
  for (const [address, units] of await creditsOf(a, coin, b)) {
    total += units;
    if (a.feeAddresses.has(address)) feeUnits += units;
    // A miner credited less than one base unit gets nothing: it is all dust.
    else if (base(units) > 0n)
      credits.push({ address, user: derivedUserId(`miningcore:${a.poolId}`, coin.tag, address), units: base(units) });
  }
  const income = base(total);
  const poolFee = credits.reduce((s, x) => s - x.units, income);
  return { credits, poolFee, income, dust: poolFee - base(feeUnits) };
}

async function credit(a: McAdapter, coin: Signed<Coin>, b: McBlock, facts: BlockFacts): Promise<Outcome> {
  if (!b.hash) return refused(a, facts, 'the confirmed block has no hash');
  intakeBlockHash(b.hash, 'blocks.hash');
  const height = intakeHeight(b.height, 'blocks.blockheight');
  const [twins] = (
    await a.mc.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM blocks WHERE poolid = $1 AND blockheight = $2 AND status = 'confirmed'",
      [a.poolId, b.height],
    )
  ).rows;
  // balance_changes name only the height: two blocks there cannot be told apart, so neither is imported.
  if ((twins?.n ?? 0) > 1)
    return refused(a, facts, `${twins?.n} confirmed blocks at height ${b.height}: their credits cannot be told apart`);
  const c = await claimOf(a, coin, b);
  if (!c.credits.length) return refused(a, facts, 'no miner credit names this block');
  const coins = (units: bigint) => formatAmount(fromBaseUnits(units, coin.decimals));
  const r = await intakeCall<{ already: boolean; incomeId: number }>(a.it, 'Blocks.Credit', {
    coin: coin.tag,
    hash: b.hash,
    income: coins(c.income),
    credits: c.credits.map((x) => ({ user: x.user, amount: coins(x.units) })),
    poolFee: coins(c.poolFee),
    height,
  });
  if (!r.ok) return refusal(a, facts, r);
  // Wallets only for the users of a credited block. The cursor lives in memory only: a crash after the credit
  // imports the block again (the intake answers already) and registers its wallets then.
  for (const x of c.credits) {
    const w = await ensureMinerWallet(a.it, a.log, { pool: a.poolId, coin, user: x.user, address: x.address }, a.wallets);
    if (w.ok) continue;
    a.log.error({ ...facts, address: x.address, code: w.code, reason: w.message }, 'miner wallet not registered: retried next interval');
    return 'retry';
  }
  if (!r.value.already)
    a.log.info(
      { ...facts, incomeId: r.value.incomeId, credits: c.credits.length, income: coins(c.income), dust: coins(c.dust) },
      'miningcore block imported',
    );
  return 'done';
}

function refused(a: McAdapter, facts: BlockFacts, reason: string, code?: string): Outcome {
  const forged = code !== undefined && FORGED.has(code as never);
  const alert = forged ? INTAKE_ALERT.blockForged : INTAKE_ALERT.blockRefused;
  const msg = forged
    ? 'a confirmed MiningCore block was not imported: asked again next interval'
    : 'a confirmed MiningCore block was not imported';
  a.log.warn({ ...facts, alert, ...(code ? { code } : {}), reason }, msg);
  // The intake alerted a forged one already (same subject): one alert per block, however often it is asked again.
  const subject = facts.block ? blockSubject(a.coin, facts.block) : `${a.coin} miningcore block ${facts.blockId}`;
  a.it.alerts.once(alert, subject, `MiningCore block ${facts.blockId} (height ${facts.height}) not imported: ${reason}`, facts);
  return forged ? 'recheck' : 'refused';
}

/** The intake's refusal: the block waits when a later interval may answer otherwise, else it is refused (the chain's word asked again). */
function refusal(a: McAdapter, facts: BlockFacts, r: { code: string; message: string }): Outcome {
  if (!RETRY.has(r.code)) return refused(a, facts, r.message, r.code);
  a.log.warn({ ...facts, code: r.code, reason: r.message }, 'miningcore block not imported yet: retried next interval');
  return 'retry';
}

async function importBlock(a: McAdapter, coin: Signed<Coin>, b: McBlock): Promise<Outcome> {
  const facts = { pool: a.poolId, coin: coin.tag, blockId: b.id, height: b.height, block: b.hash };
  try {
    return await credit(a, coin, b, facts);
  } catch (e) {
    if (e instanceof PoolFormatError) return refused(a, facts, e.message);
    // A bug stops the step (logged as failed); MiningCore's database or the ledger failing leaves the block waiting.
    if (e instanceof AdapterBug) throw e;
    a.log.warn({ ...facts, reason: (e as Error).message }, 'miningcore block not imported yet: retried next interval');
    return 'retry';
  }
}

const BLOCK_COLUMNS = 'id::text, blockheight::text AS height, hash';

/** The blocks behind the cursor the chain refused, asked again (still confirmed in MiningCore); kept until one is settled. */
async function recheckBlocks(a: McAdapter, coin: Signed<Coin>): Promise<void> {
  if (!a.recheck.size) return;
  const ids = [...a.recheck];
  const { rows } = await a.mc.query<McBlock>(
    `SELECT ${BLOCK_COLUMNS} FROM blocks WHERE poolid = $1 AND status = 'confirmed' AND id = ANY($2::bigint[]) ORDER BY id`,
    [a.poolId, ids.map(String)],
  );
  // One MiningCore no longer shows confirmed is not asked again.
  const confirmed = new Set(rows.map((b) => BigInt(b.id)));
  for (const id of ids) if (!confirmed.has(id)) a.recheck.delete(id);
  for (const b of rows) {
    const outcome = await importBlock(a, coin, b);
    if (outcome === 'done' || outcome === 'refused') a.recheck.delete(BigInt(b.id));
  }
}

/**
 * Every confirmed block after the cursor; the cursor passes only blocks done for good or kept to recheck, so a
 * waiting block is asked again with all after it, and a chain-refused one alone.
 */
export async function importBlocks(a: McAdapter, coin: Signed<Coin>): Promise<void> {
  await recheckBlocks(a, coin);
  let after = a.cursor;
  let waiting = false;
  for (;;) {
    const { rows } = await a.mc.query<McBlock>(
      `SELECT ${BLOCK_COLUMNS} FROM blocks WHERE poolid = $1 AND status = 'confirmed' AND id > $2 ORDER BY id LIMIT $3`,
      [a.poolId, after.toString(), PAGE],
    );
    for (const b of rows) {
      const outcome = await importBlock(a, coin, b);
      waiting ||= outcome === 'retry';
      if (!waiting) {
        a.cursor = BigInt(b.id);
        if (outcome === 'recheck') a.recheck.add(a.cursor);
      }
      after = BigInt(b.id);
    }
    if (rows.length < PAGE) return;
  }
}
