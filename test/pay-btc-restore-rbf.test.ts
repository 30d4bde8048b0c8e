// Regression (issue 17, outsider round 4, high): an old backup restored after a FEE BUMP (BIP125 replacement) of a
// Bitcoin-family payment: the unknown-spend check excused the replacement, Check proved the paid withdrawal "failed" by
// its own replacement, and resolve credited the miner back although the chain paid them. On a real litecoind
// (-mempoolreplacement=1, `fee_bump = "rbf"`). Fixed: a spender of the attempt's inputs that pays every output of the
// attempt is the payment (src/chains/btc/driver.ts, #paidByOther): X is recorded sent by T1', nothing credited back.
//
// Severity: HIGH. Promises it broke: never pay twice; "failure needs proof"; README "Backup and restore" (a restore of a
// backup older than the last payment is refused on the Bitcoin family "naming each transaction of the hot wallet's
// key whose change it holds") and "Unknown spends from the hot wallet" (a restored older backup is detected).
//
// Steps:
//  1. payserv pays LTC with `fee_bump = "rbf"`; a withdrawal is approved: attempt T1 in the mempool (`sending`).
//  2. `pscli backup` while it is in flight (README: "the payments in flight at the backup are in the restored journal
//     and resolved from the chain by Check ... never paid again").
//  3. Check finds T1 stale and replaces it by T1' (same inputs, same payee output, less change); T1' is mined; `sent`.
//  4. The host is lost; that backup is restored onto a fresh host (`pscli restore --root`). Its journal knows T1 only.
//  5. payserv STARTS: the hot wallet's only unspent output is T1''s change, and T1' "spends only inputs of payserv's
//     own attempts" (T1's, journaled), so src/chains/btc/spends.ts excuses it as a conflict Check proves failure by.
//  6. (Before the fix.) `pscli resolve --coin LTC` (Autopay.Resolve) runs Check: T1 is nowhere, its input is spent
//     by T1' (not among the restored attempts), buried 6 deep: "proved failed" -> `send_error`, then credited back (`declined`,
//     "every transaction sent for it proved failed on chain; credited back"). The miner holds the payment on chain
//     AND the amount back in the ledger: their next request is paid again from the wallet's other outputs.
//
// Why: both the unknown-spend check (ownInputs) and the conflict proof (#conflictProof's `ours` = the restored
// attempts) treat "spends an input of one of our attempts" as "someone else's conflicting spend". A replacement made
// after the backup is exactly such a transaction, yet it is payserv's own payment of that withdrawal.
//
// Fixed (the verdict): a mined spender of an attempt's input that pays every payee output of the attempt (script and
// value; only the change may differ) is the payment, whoever's record lost it: `mined`, then `confirmed` by it once
// buried, its fee from its inputs' values on the chain, a warning naming it. Only a spender that does not pay the
// attempt's outputs stays proof of failure (pay-btc.test.ts's double-spend-then-resend). Now step 6 records X `sent`
// by T1' (resolve: "paid"), nothing is credited back, and the finality watch follows T1' to final. Left as it was:
// the unknown-spend check still excuses T1' at start (it spends only our attempts' inputs), harmless now that Check
// takes it for the payment.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PayoutResult } from '../src/api/payserv.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { EXIT } from '../src/cli/exit.js';
import { openDatabase } from '../src/db/open.js';
import { pkiPaths } from '../src/esman/pki-files.js';
import type { TestDatabase } from './support/db.js';
import { ltcCoinsToml } from './support/chain-settings.js';
import { ltcPayservProcess } from './support/btc-process.js';
import { litecoindForFile } from './support/litecoind.js';
import { runPscli } from './support/pscli.js';
import { pscliWorkspace } from './support/pscli-world.js';
import { killAllChildren, startPayservProcess, until, writeConfig } from './support/spawn.js';

const drop: TestDatabase[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const t of drop.splice(0)) await t.drop();
});

const litecoind = litecoindForFile({ mempoolReplacement: true });
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 41 };
const CONFIRMATIONS = 6; // the seeded coin's (src/writer/seed.ts)
const coinsToml = (url: string) =>
  ltcCoinsToml(url, ['rpc_timeout_ms = 60000', 'fee_bump = "rbf"', 'replace_after_s = 1', 'finality_depth = 8']) +
  '\n[monitor]\ninterval_s = 1\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Resolution {
  withdrawal: number;
  decision: string;
  reason: string;
}

describe('restore of a backup taken before a fee bump (Bitcoin family)', { timeout: 240_000 }, () => {
  it('the replacement the restored records lost is recognised as the payment: sent by it, nothing credited back', async () => {
    const node = await litecoind();
    const client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
    const { l, id, ps } = await ltcPayservProcess(node, SEED, 8401, coinsToml(node.url));
    const rpc = ps.client('pscli');

    // 1-2. Approved (T1 in the mempool), then the backup while it is in flight.
    const sending = await rpc.call<PayoutResult>('PayServ.Approve', [id]);
    expect(sending.reply, JSON.stringify(sending)).toBe('SENDING');
    const t1 = (sending as { txHash: string }).txHash;
    const backup = await rpc.call<{ path: string }>('Backup.Take');

    // 3. Stale: replaced by T1' (payserv's own fee bump), which is mined and recorded sent.
    await sleep(1_500);
    const bumped = await rpc.call<PayoutResult>('PayServ.Check', [id]);
    expect(bumped.reply, JSON.stringify(bumped)).toBe('SENDING');
    const t1b = (bumped as { txHash: string }).txHash;
    expect(t1b).not.toBe(t1);
    await node.mine(CONFIRMATIONS);
    const sent = await rpc.call<PayoutResult>('PayServ.Check', [id]);
    expect(sent).toMatchObject({ reply: 'SENT', txHash: t1b });
    await ps.stop('SIGTERM');
    const [w] = await l.withDb((db) =>
      db.query<{ address: string }>('SELECT address FROM finances_withdrawal_transaction WHERE id = $1', [id]),
    );
    const payee = w?.address as string;
    expect((await client.scanTxOutSet([`addr(${payee})`])).unspents.map((u) => u.txid)).toEqual([t1b]); // paid, by T1'

    // 4. The host is lost; the backup (taken before the bump) is restored onto a fresh host.
    const ws = await pscliWorkspace(drop);
    const r = await runPscli(['restore', '--from', backup.path, '--payserv-state-dir', ws.stateDir, '--root', pkiPaths(l.stateDir).root], {
      ...ws.env,
      PAYSERV_STATE_DIR: ws.stateDir,
    });
    expect(r.code, r.stderr).toBe(EXIT.OK);

    // 5. payserv starts; T1''s change in the hot wallet is excused as a spend of our own attempt's inputs.
    const restored = await startPayservProcess({
      config: writeConfig(join(ws.stateDir, 'payserv.toml'), { extra: coinsToml(node.url) }),
      stateDir: ws.stateDir,
      databaseUrl: ws.env.DATABASE_URL,
    });
    const rpc2 = restored.client('pscli');
    await rpc2.call('Utils.Enable');

    // 6. Resolve runs Check: T1''s input spender pays X's output, so it IS the payment: X is sent by T1', nothing credited.
    const report = await rpc2.call<{ resolutions: Resolution[]; lines: string[] }>('Autopay.Resolve', ['LTC']);
    const mine = report.resolutions.find((x) => x.withdrawal === id);
    expect(mine, JSON.stringify(report)).toMatchObject({ decision: 'paid', reason: 'confirmed on chain', txHash: t1b });
    expect(report.lines.join('\n')).toMatch(/recorded sent/);
    const fee = restored.logs().find((e) => e.tx === t1b && String(e.msg).includes('payserv has no record of'));
    expect(fee, "the warning naming T1'").toBeDefined();
    // The finality watch follows T1' (finality_depth 8: two more blocks) to final.
    await node.mine(2);
    const final = (e: Record<string, unknown>) =>
      e.component === 'finality' && e.tx === t1b && e.msg === 'sent payment final: no longer watched';
    await until("the finality watch finds T1' final", () => restored.logs().some(final), 30_000);
    expect(restored.logs().filter((e) => e.msg === 'sent payments watched' && (e.gone !== 0 || e.unknown !== 0))).toEqual([]);
    await restored.stop('SIGTERM');
    // Recorded sent by T1', its fee the chain's: T1''s inputs' values less its outputs.
    const t1bTx = await client.getRawTransaction(t1b);
    const prev = await client.getRawTransaction(t1bTx?.vin[0]?.txid as string);
    const chainFee = (prev?.vout[t1bTx?.vin[0]?.vout as number]?.value ?? 0n) - (t1bTx?.vout ?? []).reduce((a, o) => a + o.value, 0n);
    const db = await openDatabase({ url: ws.env.DATABASE_URL }, ws.stateDir);
    const [row] = await db.query<{ status: string; tx_hash: string; fee: string }>(
      'SELECT status, tx_hash, round(tx_fee * 100000000)::text AS fee FROM finances_withdrawal_transaction WHERE id = $1',
      [id],
    );
    await db.close();
    expect(t1bTx?.vin).toHaveLength(1);
    expect(row).toEqual({ status: 'sent', tx_hash: t1b, fee: chainFee.toString() });
    // The chain holds the one payment T1' made to the miner; nothing else was paid to them.
    expect((await client.scanTxOutSet([`addr(${payee})`])).unspents.map((u) => u.txid)).toEqual([t1b]);
    client.close();
  });
});
