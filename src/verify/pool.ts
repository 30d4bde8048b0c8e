import { EMPTY_POOL, PoolVerifier, poolStateOf, type PoolState } from '../ledger/pool.js';
import { problem, type Problem } from '../ledger/problem.js';
import { ZERO } from '../money/amount.js';
import type { CoinCheckpoint, Signed } from '../ledger/records.js';
import { blockCredits, getIncome, streamAccountCredits, streamGhostCredits, streamIncome } from '../store/reads.js';
import type { Mode } from './account.js';
import { chunks } from './batch.js';
import { coinCheckpoint } from './checkpoint-trust.js';
import { coinOf, type LedgerView } from './view.js';

export interface PoolVerification {
  problems: Problem[];
  state: PoolState;
  checkpoint: Signed<CoinCheckpoint> | null;
}

/** GHOSTS_MAX bounds the ghost report: past it the ledger is broken beyond listing each row. */
const GHOSTS_MAX = 1000;

/** Verifies a coin's pool income: chain, signatures, each block against its credits, fee credits, ghosts (full mode). */
export async function verifyPool(view: LedgerView, coinId: number, mode: Mode): Promise<PoolVerification> {
  const coin = coinOf(view, coinId);
  const trusted = await coinCheckpoint(view, coinId);
  const cp = trusted.checkpoint;
  const problems = [...trusted.problems];
  if (problems.length && mode === 'incremental') return { problems, state: EMPTY_POOL, checkpoint: null };
  const incremental = mode === 'incremental' && cp !== null;
  const v = new PoolVerifier(coin, view.book, incremental ? poolStateOf(cp) : EMPTY_POOL, incremental ? null : cp);
  if (incremental && cp.lastIncomeId) {
    const last = await getIncome(view.db, cp.lastIncomeId);
    if (!last || last.coinId !== coinId || last.balanceBefore + last.amount !== cp.poolBalance || last.blockHash !== cp.lastBlockHash) {
      problems.push(
        problem(
          'finances_coin_checkpoints',
          `coin=${coinId}`,
          'checkpoint_mismatch',
          `income ${cp.lastIncomeId} no longer ends where the checkpoint says`,
        ),
      );
    }
  }
  for await (const batch of chunks(streamIncome(view.db, coinId, incremental ? cp.lastIncomeId : 0), 500)) {
    const sums = await blockCredits(
      view.db,
      coinId,
      batch.map((p) => p.blockHash),
    );
    for (const p of batch) v.income(p, sums.get(p.blockHash) ?? { sum: ZERO, count: 0 });
  }
  for await (const c of streamAccountCredits(view.db, coin.feeUserId, coinId, incremental ? cp.lastFeeCreditId : 0)) v.feeCredit(c);
  if (mode === 'full') {
    let n = 0;
    for await (const g of streamGhostCredits(view.db, coinId)) {
      if (++n > GHOSTS_MAX) {
        problems.push(
          problem('finances_user_balance_transaction', `coin=${coinId}`, 'ghost', `more than ${GHOSTS_MAX} ghost credits; listing stopped`),
        );
        break;
      }
      problems.push(problem('finances_user_balance_transaction', g.id, 'ghost', `ghost credit: block ${g.blockHash} has no pool income`));
    }
  }
  const r = v.finish();
  return { problems: [...problems, ...r.problems], state: r.state, checkpoint: cp };
}
