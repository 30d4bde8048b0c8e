// The demo's autopay: several intervals while blocks keep being credited. Each interval the pool credits
// a block to some ETH miners, the operator asks for a run (pscli autopay run), and the confirmations are
// mined; the last run records the earlier payments sent. The chain is then asked about every payment.
import { randomBytes } from 'node:crypto';
import { anvilRpc, mine, setBalance } from '../devnet/anvil.js';
import type { Db } from '../db/db.js';
import type { Coin, Signed } from '../ledger/records.js';
import { formatAmount, parseAmount, sub, sum, toBaseUnits } from '../money/amount.js';
import type { RunReport } from '../autopay/run.js';
import type { RunningPayserv } from '../app/service.js';
import type { Signer } from '../pki/signer.js';
import type { RpcClient } from '../rpc/client.js';
import { loadCoins } from '../store/reads.js';
import { creditBlock } from '../writer/blocks.js';

type Out = (s?: string) => void;

export const AUTOPAY_THRESHOLD = '0.5';
const INTERVALS = 4;
const MINERS_PER_BLOCK = 12;

export async function demoAutopay(
  db: Db,
  running: RunningPayserv,
  pscli: RpcClient,
  anvilUrl: string,
  admin: Signer,
  out: Out,
): Promise<boolean> {
  const eth = (await loadCoins(db)).find((c) => c.tag === 'ETH') as Signed<Coin>;
  const driver = running.ps.drivers.get('ETH');
  if (!driver) throw new Error('demo: payserv has no ETH driver');
  await setBalance(anvilUrl, driver.address, 10n ** 24n);
  // Miners with a reviewed wallet and no request of their own in flight (autopay skips those until it is final).
  const miners = (
    await db.query<{ user_id: number }>(
      `SELECT DISTINCT w.user_id FROM users_userwallets w WHERE w.coin_id = $1 AND w.signature IS NOT NULL AND w.active AND NOT w.deleted
       AND NOT EXISTS (SELECT 1 FROM finances_withdrawal_transaction t WHERE t.user_id = w.user_id AND t.coin_id = w.coin_id AND t.status NOT IN ('sent', 'processed', 'declined'))
     ORDER BY w.user_id LIMIT $2`,
      [eth.id, 2 * MINERS_PER_BLOCK],
    )
  ).map((r) => r.user_id);
  out(
    `    autopay over ${INTERVALS} intervals while the pool credits blocks (the operator asks for each run: pscli autopay run --coin ETH):`,
  );
  const reports: RunReport[] = [];
  for (let i = 0; i < INTERVALS + 1; i++) {
    const last = i === INTERVALS;
    if (!last) {
      // A rotating half of the miners, 0.2–0.6 ETH each: some cross the threshold in one block, some in two.
      const shares = miners
        .slice((i * 7) % miners.length)
        .concat(miners)
        .slice(0, MINERS_PER_BLOCK)
        .map((userId, k) => ({ userId, amount: parseAmount(`0.${200 + (((i + 1) * (k + 3) * 37) % 400)}`) }));
      await creditBlock(db, admin, eth, { blockHash: `0x${randomBytes(32).toString('hex')}`, shares, poolFee: parseAmount('0.01') });
    }
    const r = await pscli.call<RunReport>('Autopay.Run', ['ETH']);
    reports.push(r);
    out(
      `    ${last ? 'last run' : `interval ${i + 1}: block credited to ${MINERS_PER_BLOCK} miners;`} ${r.outcome}: paid ${r.paid.count} (${r.paid.sum} ETH)` +
        `${r.confirmed.length ? `, ${r.confirmed.length} earlier payments confirmed` : ''}, ${r.belowThreshold} below the threshold` +
        `${r.skipped.length ? `, ${r.skipped.length} skipped (e.g. user ${r.skipped[0]!.userId}: ${r.skipped[0]!.reason})` : ''}; hot wallet ${r.hotWallet} ETH`,
    );
    await mine(anvilUrl, eth.confirmations);
  }
  const ids = reports.flatMap((r) => r.paid.withdrawals);
  const rows = await db.query<{ id: number; status: string; amount: string; fee: string; tx_hash: string | null }>(
    'SELECT id, status, amount::text, fee::text, tx_hash FROM finances_withdrawal_transaction WHERE id = ANY($1::bigint[]) ORDER BY id',
    [ids],
  );
  const sent = rows.filter((w) => w.status === 'sent');
  const onChain = await Promise.all(
    sent.map(async (w) => {
      const tx = (await anvilRpc(anvilUrl, 'eth_getTransactionByHash', [w.tx_hash])) as { value: string } | null;
      return tx ? BigInt(tx.value) : -1n;
    }),
  );
  const agree = sent.every((w, k) => onChain[k] === toBaseUnits(sub(parseAmount(w.amount), parseAmount(w.fee)), eth.decimals));
  out(
    `    ${ids.length} autopay payments, ${sent.length} sent, ${formatAmount(sum(sent.map((w) => parseAmount(w.amount))))} ETH; ` +
      `every transaction on anvil ${agree ? 'carries exactly amount − fee' : 'DISAGREES with the ledger'}; no one was paid twice (${new Set(sent.map((w) => w.tx_hash)).size} distinct transactions)`,
  );
  return ids.length > 0 && agree && sent.length === ids.length && reports.every((r) => r.outcome === 'done');
}
