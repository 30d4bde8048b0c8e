import { INTAKE_METHODS } from '../../api/intake.js';
import { FORGED } from '../../chains/reward.js';
import type { Coin, Signed } from '../../ledger/records.js';
import { formatAmount, fromBaseUnits } from '../../money/amount.js';
import { blockSubject, INTAKE_ALERT } from '../../intake/alerts.js';
import { PoolFormatError } from '../errors.js';
import { derivedUserId } from '../user-id.js';
import { AdapterBug, intakeCall, type IntakeAnswer } from '../intake-call.js';
import type { McAdapter } from './context.js';
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
/** The intake's own checks of a block hash and a wallet address: a MiningCore value that fails them is a format problem. */
const BLOCK_HASH = INTAKE_METHODS['Blocks.Credit'].shape.hash;
const ADDRESS = INTAKE_METHODS['Wallets.Register'].shape.address;

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
    if (!ADDRESS.safeParse(r.address).success) throw new PoolFormatError('balance_changes.address', r.address, 'not 1 to 128 characters');
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
async function ensureWallet(a: McAdapter, coin: Signed<Coin>, user: number, address: string): Promise<IntakeAnswer<void>> {
  const done = { ok: true, value: undefined } as const;
  if (a.wallets.has(address)) return done;
  // An operator's deletion is one-way: the address is not added back; its credits wait in the ledger unpaid.
  const retired = await a.it.db.query(
    'SELECT id FROM users_userwallets WHERE user_id = $1 AND coin_id = $2 AND address = $3 AND (deleted OR NOT active) LIMIT 1',
    [user, coin.id, address],
  );
  if (retired.length) {
    a.log.warn({ pool: a.poolId, coin: coin.tag, user, address }, 'miner wallet retired in the ledger: not registered again');
    a.wallets.add(address);
    return done;
  }
  const w = await intakeCall<{ id: number; reviewed: boolean }>(a.it, 'Wallets.Register', { user, coin: coin.tag, address });
  if (!w.ok) return w;
  if (!w.value.reviewed) {
    const signed = await intakeCall(a.it, 'Wallets.Sign', { wallet: w.value.id });
    if (!signed.ok) return signed;
  }
  a.wallets.add(address);
  return done;
}

async function credit(a: McAdapter, coin: Signed<Coin>, b: McBlock, facts: BlockFacts): Promise<Outcome> {
  if (!b.hash) return refused(a, facts, 'the confirmed block has no hash');
  if (!BLOCK_HASH.safeParse(b.hash).success) return refused(a, facts, 'the confirmed block hash is not 64 hex digits');
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
  for (const x of c.credits) {
    const w = await ensureWallet(a, coin, x.user, x.address);
    if (!w.ok) return refusal(a, facts, w);
  }
  const coins = (units: bigint) => formatAmount(fromBaseUnits(units, coin.decimals));
  const income = c.credits.reduce((s, x) => s + x.units, c.poolFee);
  const r = await intakeCall<{ already: boolean; incomeId: number }>(a.it, 'Blocks.Credit', {
    coin: coin.tag,
    hash: b.hash,
    income: coins(income),
    credits: c.credits.map((x) => ({ user: x.user, amount: coins(x.units) })),
    poolFee: coins(c.poolFee),
  });
  if (!r.ok) return refusal(a, facts, r);
  // The cursor lives in memory only: a crash after this credit imports the block again, and the intake answers already.
  if (!r.value.already)
    a.log.info({ ...facts, incomeId: r.value.incomeId, credits: c.credits.length, income: coins(income) }, 'miningcore block imported');
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

/** The intake's refusal: the block waits when a later interval may answer otherwise, else it is refused for good. */
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
