import { refusalCodeOf } from '../../api/jsonrpc.js';
import { FORGED } from '../../chains/reward.js';
import type { Coin, Signed } from '../../ledger/records.js';
import { formatAmount, fromBaseUnits } from '../../money/amount.js';
import { blockSubject, INTAKE_ALERT } from '../../intake/alerts.js';
import { PoolFormatError } from '../errors.js';
import { derivedUserId } from '../user-id.js';
import { callIntake, type McAdapter } from './context.js';
import { decimal28ToBaseUnits } from './decimal.js';
import { blockRewardUsage, parseUsage } from './usage.js';

// MiningCore's confirmed blocks into the signed ledger, through the intake: per block, the positive
// balance_changes whose usage names its height (the only link MiningCore keeps), summed per address; the
// fee addresses' part is the pool fee. A block whose credits cannot all be read exactly is not imported.

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
}

type Outcome = 'done' | 'retry' | 'refused';

type BlockFacts = {
  pool: string;
  coin: string;
  blockId: string;
  height: string;
  block: string | null;
};

const CREDITS_SQL = `SELECT address, amount::text AS amount, usage FROM balance_changes
  WHERE poolid = $1 AND amount > 0 AND (usage = $2 OR usage LIKE $3) ORDER BY id`;

/** The block's credits per address, exact in the coin's base units; a usage or amount not read exactly throws. */
async function claimOf(a: McAdapter, coin: Signed<Coin>, b: McBlock): Promise<Claim> {
  const height = BigInt(b.height);
  const { rows } = await a.mc.query<{ address: string; amount: string; usage: string | null }>(CREDITS_SQL, [
    a.poolId,
    blockRewardUsage(height),
    `Reward for % shares for block ${height}`,
  ]);
  const perAddress = new Map<string, bigint>();
  for (const r of rows) {
    const u = parseUsage(r.usage);
    if (u.kind === 'payment' || u.height !== height)
      throw new PoolFormatError('balance_changes.usage', r.usage ?? 'NULL', `not block ${height}`);
    const { baseUnits, dust } = decimal28ToBaseUnits(r.amount, coin.decimals);
    if (dust !== 0n) throw new PoolFormatError('balance_changes.amount', r.amount, `finer than ${coin.tag}'s ${coin.decimals} decimals`);
    perAddress.set(r.address, (perAddress.get(r.address) ?? 0n) + baseUnits);
  }
  let poolFee = 0n;
  const credits: Claim['credits'] = [];
  for (const [address, units] of perAddress) {
    if (a.feeAddresses.has(address)) poolFee += units;
    else credits.push({ address, user: derivedUserId(`miningcore:${a.poolId}`, coin.tag, address), units });
  }
  return { credits, poolFee };
}

/** The miner's address as its reviewed wallet (the adapter's policy: MiningCore pays a miner to the address it mines with). */
async function ensureWallet(a: McAdapter, coin: Signed<Coin>, user: number, address: string): Promise<void> {
  if (a.wallets.has(address)) return;
  // An operator's deletion is one-way: the address is not added back; its credits wait in the ledger unpaid.
  const retired = await a.it.db.query(
    'SELECT id FROM users_userwallets WHERE user_id = $1 AND coin_id = $2 AND address = $3 AND (deleted OR NOT active) LIMIT 1',
    [user, coin.id, address],
  );
  if (retired.length) {
    a.log.warn({ pool: a.poolId, coin: coin.tag, user, address }, 'miner wallet retired in the ledger: not registered again');
    a.wallets.add(address);
    return;
  }
  const w = await callIntake<{ id: number; reviewed: boolean }>(a, 'Wallets.Register', { user, coin: coin.tag, address });
  if (!w.reviewed) await callIntake(a, 'Wallets.Sign', { wallet: w.id });
  a.wallets.add(address);
}

async function credit(a: McAdapter, coin: Signed<Coin>, b: McBlock): Promise<Outcome> {
  const facts = { pool: a.poolId, coin: coin.tag, blockId: b.id, height: b.height, block: b.hash };
  if (!b.hash) return refused(a, facts, 'the confirmed block has no hash');
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
  for (const x of c.credits) await ensureWallet(a, coin, x.user, x.address);
  const coins = (units: bigint) => formatAmount(fromBaseUnits(units, coin.decimals));
  const income = c.credits.reduce((s, x) => s + x.units, c.poolFee);
  const r = await callIntake<{ already: boolean; incomeId: number }>(a, 'Blocks.Credit', {
    coin: coin.tag,
    hash: b.hash,
    income: coins(income),
    credits: c.credits.map((x) => ({ user: x.user, amount: coins(x.units) })),
    poolFee: coins(c.poolFee),
  });
  if (!r.already)
    a.log.info({ ...facts, incomeId: r.incomeId, credits: c.credits.length, income: coins(income) }, 'miningcore block imported');
  return 'done';
}

function refused(a: McAdapter, facts: BlockFacts, reason: string, code?: string): Outcome {
  const alert = code && FORGED.has(code as never) ? INTAKE_ALERT.blockForged : INTAKE_ALERT.blockRefused;
  a.log.warn({ ...facts, alert, ...(code ? { code } : {}), reason }, 'a confirmed MiningCore block was not imported');
  // The intake alerted a forged one already (same subject): one alert per block.
  const subject = facts.block ? blockSubject(a.coin, facts.block) : `${a.coin} miningcore block ${facts.blockId}`;
  a.it.alerts.once(alert, subject, `MiningCore block ${facts.blockId} (height ${facts.height}) not imported: ${reason}`, facts);
  return 'refused';
}

async function importBlock(a: McAdapter, coin: Signed<Coin>, b: McBlock): Promise<Outcome> {
  const facts = { pool: a.poolId, coin: coin.tag, blockId: b.id, height: b.height, block: b.hash };
  try {
    return await credit(a, coin, b);
  } catch (e) {
    if (e instanceof PoolFormatError) return refused(a, facts, e.message);
    const code = refusalCodeOf(e);
    if (code && !RETRY.has(code)) return refused(a, facts, e instanceof Error ? e.message : String(e), code);
    a.log.warn(
      { ...facts, ...(code ? { code } : {}), reason: (e as Error).message },
      'miningcore block not imported yet: retried next interval',
    );
    return 'retry';
  }
}

/** Every confirmed block after the cursor; the cursor passes only blocks done for good, so a waiting block is asked again. */
export async function importBlocks(a: McAdapter, coin: Signed<Coin>): Promise<void> {
  let after = a.cursor;
  let waiting = false;
  for (;;) {
    const { rows } = await a.mc.query<McBlock>(
      "SELECT id::text, blockheight::text AS height, hash FROM blocks WHERE poolid = $1 AND status = 'confirmed' AND id > $2 ORDER BY id LIMIT $3",
      [a.poolId, after.toString(), PAGE],
    );
    for (const b of rows) {
      const outcome = await importBlock(a, coin, b);
      waiting ||= outcome === 'retry';
      if (!waiting) a.cursor = BigInt(b.id);
      after = BigInt(b.id);
    }
    if (rows.length < PAGE) return;
  }
}
