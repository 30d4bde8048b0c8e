// Regression (issue 17, outsider round 4, critical): an old backup restored after an Ethereum FEE BUMP paid the
// withdrawal twice on chain. Now a transaction at our nonce paying what our attempt pays (recipient, value, data) is the
// payment itself: Check records X `sent` by it, Resend is refused, the miner is paid once. The attack as found:
// The replacement (same nonce, higher fee) was signed after the backup: the restored payserv starts (the nonce is
// accounted for by the original attempt in the restored journal), Check proves the original "failed" by the
// replacement that used its nonce ("none of our attempts"), and Resend pays the miner again. On a real anvil.
//
// Severity: CRITICAL (paid twice on chain, by documented commands). Promises broken: never pay twice; "failure needs
// proof"; README "Backup and restore": "the payments in flight at the backup (`sending`) are in the restored journal and
// resolved from the chain by Check, never paid again", and "Unknown spends from the hot wallet" (an older backup
// restored is refused at start "naming the transactions it has no record of").
//
// Steps:
//  1. payserv pays ETH (blocks only when mined, `replace_after_s = 1`); withdrawal X approved: attempt T1, nonce n, in
//     the node's pool (`sending`).
//  2. `pscli backup` while X is in flight.
//  3. Check finds T1 stale and replaces it by T1' (nonce n, higher fee); T1' is mined; X `sent`.
//  4. The host is lost; the backup is restored onto a fresh host (`pscli restore --root`); its journal holds T1 only.
//  5. payserv starts: the chain's nonce count n+1 is what the restored journal accounts for (T1 used nonce n).
//  6. `pscli check X`: T1 is not mined, nonce n is used by T1' which is not among X's restored attempts: "provably
//     failed" -> `send_error`. `pscli resend X` (README: once the chain proves every earlier attempt failed): a new
//     transaction at nonce n+1 pays the miner again. Two payments of X on the chain.
//
// Why: a transaction that used our nonce is taken as a stranger's because it is not among the attempts the (restored)
// database and journal know; but the hot wallet's key signed it, and a fee bump of ours is exactly such a transaction.
//
// Fixed as first suggested (src/chains/eth/driver.ts, #consumedBy and #paidBy). Suggested: a transaction at our nonce that pays the attempt's recipient the same value with the same data (a
// replacement: only the fee fields differ) is the payment: record it `sent`, never `send_error`. More generally,
// treat any transaction from the hot wallet that payserv's records do not hold as an unknown spend (refuse, as at
// start), not as a failure proof; and refuse to start when the journal holds an in-flight attempt whose nonce is used
// on chain by a transaction the host never recorded.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PayoutResult } from '../src/api/payserv.js';
import { mine, setBalance } from '../src/devnet/anvil.js';
import { EXIT } from '../src/cli/exit.js';
import { pkiPaths } from '../src/esman/pki-files.js';
import { createHotKey } from '../src/keys/hot-wallet.js';
import { paidOnChain } from './support/autopay-host.js';
import { anvilForFile } from './support/chains.js';
import type { TestDatabase } from './support/db.js';
import { ethRequests } from './support/miners.js';
import { runPscli } from './support/pscli.js';
import { pscliWorkspace } from './support/pscli-world.js';
import { hotAddress, rotationSeed } from './support/rotation.js';
import { killAllChildren, processLedger, sleep, startPayservProcess, writeConfig, type PayservChild } from './support/spawn.js';

const drop: TestDatabase[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const t of drop.splice(0)) await t.drop();
});
const anvil = anvilForFile({ noMining: true });

const ethToml = (url: string) =>
  [
    '[coins.ETH]',
    'chain = "evm"',
    `node_url = "${url}"`,
    'chain_id = 31337',
    'min_peers = 0',
    'confirmations = 1',
    'finality_depth = 3',
    'replace_after_s = 1',
    'rpc_timeout_ms = 60000',
    '',
  ].join('\n');

/** A payout call, again while payserv answers `busy`. */
async function call(ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check' | 'PayServ.Resend', id: number): Promise<PayoutResult> {
  let r = await ps.client('pscli').call<PayoutResult>(method, [id]);
  for (let i = 0; r.code === 'busy' && i < 50; i++) {
    await sleep(100);
    r = await ps.client('pscli').call<PayoutResult>(method, [id]);
  }
  return r;
}

describe('an old backup restored after a fee bump (Ethereum): paid once', { timeout: 240_000 }, () => {
  it('the replacement paid X; the restored payserv records X sent by it, and Resend pays nothing', async () => {
    const { url } = await anvil();
    const ids: number[] = [];
    const l = await processLedger(rotationSeed(1, 47), ethRequests(1, 1, 8501, ids));
    const x = ids[0] as number;
    await createHotKey(l.stateDir, 'ETH');
    await setBalance(url, await hotAddress(l.stateDir), 10n ** 20n);
    await mine(url, 1);
    const ps = await l.start(l.config('payserv.toml', { extra: ethToml(url) }));
    await ps.client('pscli').call('Utils.Enable');

    // 1-2. X approved (T1 waits in the pool), the backup while it is in flight.
    const first = await call(ps, 'PayServ.Approve', x);
    expect(first.reply, JSON.stringify(first)).toBe('SENDING');
    const backup = await ps.client('pscli').call<{ path: string }>('Backup.Take');

    // 3. Stale: payserv replaces T1 by T1' (same nonce); T1' is mined, X sent.
    await sleep(1_500);
    const bumped = await call(ps, 'PayServ.Check', x);
    expect(bumped.reply, JSON.stringify(bumped)).toBe('SENDING');
    expect(bumped.txHash).not.toBe(first.txHash);
    await mine(url, 2);
    const sent = await call(ps, 'PayServ.Check', x);
    expect(sent, JSON.stringify(sent)).toMatchObject({ reply: 'SENT', txHash: bumped.txHash });
    await ps.stop('SIGTERM');
    const payee = (
      await l.withDb((db) => db.query<{ address: string }>('SELECT address FROM finances_withdrawal_transaction WHERE id = $1', [x]))
    )[0]?.address as string;
    expect((await paidOnChain(url, [payee])).get(payee.toLowerCase())).toBe(1);

    // 4. The host is lost: the backup restored onto a fresh host.
    const ws = await pscliWorkspace(drop);
    const r = await runPscli(['restore', '--from', backup.path, '--payserv-state-dir', ws.stateDir, '--root', pkiPaths(l.stateDir).root], {
      ...ws.env,
      PAYSERV_STATE_DIR: ws.stateDir,
    });
    expect(r.code, r.stderr).toBe(EXIT.OK);

    // 5. payserv starts (nonce n is accounted for by T1 in the restored journal).
    const restored = await startPayservProcess({
      config: writeConfig(join(ws.stateDir, 'payserv.toml'), { extra: ethToml(url) }),
      stateDir: ws.stateDir,
      databaseUrl: ws.env.DATABASE_URL,
    });
    await restored.client('pscli').call('Utils.Enable');

    // 6. Check finds nonce n used by T1', which pays what T1 pays: X is sent by it. Resend pays nothing.
    const checked = await call(restored, 'PayServ.Check', x);
    expect(checked, JSON.stringify(checked)).toMatchObject({ reply: 'SENT', txHash: bumped.txHash });
    const again = await call(restored, 'PayServ.Resend', x);
    expect(again, JSON.stringify(again)).toMatchObject({ reply: 'ERROR', code: 'wrong_status', status: 'sent' });
    await mine(url, 2);
    expect((await paidOnChain(url, [payee])).get(payee.toLowerCase())).toBe(1); // paid once
    await restored.stop('SIGTERM');
  });
});
