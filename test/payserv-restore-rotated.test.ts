// Regression (issue 17, outsider round 3, attack17c-restore-rotated, high): an old backup restored after a hot-wallet
// rotation paid twice on Ethereum. The story of the attack:
//
// Promise broken: never pay twice; README "Unknown spends from the hot wallet": on Ethereum "payserv refuses to start
// on such a pair [an older backup], naming the transactions it has no record of". The check counts the nonces of the
// hot wallet payserv holds NOW. After a rotation that wallet is the new one, which never sent anything: the old
// wallet's later payments are on the chain under the old address, which nobody looks at.
//
// Steps: payserv pays ETH from wallet W1; a backup B is taken; withdrawal X is paid from W1; the operators rotate the
// hot wallet (`pscli hotwallet rotate`, the sweep final, `--finish`): the key is W2 now. The host is lost and B, the
// only backup, is restored onto a fresh host with the key store as it is (production keeps keys in the store, copied
// after every change, so it holds W2; in this development state directory the key file is copied in its place).
// payserv starts without a word (W2's nonces are all accounted for), X is `pending` in the
// restored ledger, and Approve pays it again from W2: two payments of X on the chain.
//
// The fix: payserv registers every hot wallet a coin is paid from on the host (STATE/hotwallets/<TAG>.json, written at
// the driver's start, backed up with the state directory; src/chains/wallet-register.ts), and the unknown-spends check
// runs for each registered wallet, at start and before each signing, against the host's records of it (journal, nonce
// cache). B names W1; W1's nonces of X and of the sweep are on the chain, in no restored record: payserv refuses to
// start naming them, and X is paid once.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PayoutResult } from '../src/api/payserv.js';
import { setBalance } from '../src/devnet/anvil.js';
import { EXIT } from '../src/cli/exit.js';
import { DEMO_MARKER } from '../src/demo/state-dir.js';
import { createHotKey, hotKeyPath, nextHotKeyPath } from '../src/keys/hot-wallet.js';
import { paidOnChain } from './support/autopay-host.js';
import { anvilForFile } from './support/chains.js';
import type { TestDatabase } from './support/db.js';
import { ethRequests } from './support/miners.js';
import { runPscli } from './support/pscli.js';
import { restoreOntoFreshHost } from './support/pscli-world.js';
import { hotAddress, rotationSeed, rotationToml, untilFinal } from './support/rotation.js';
import { killAllChildren, processLedger, sleep, startPayservProcess, writeConfig, type PayservChild } from './support/spawn.js';

const drop: TestDatabase[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const t of drop.splice(0)) await t.drop();
});
const anvil = anvilForFile();

/** A payout call, again while payserv answers `busy` (the monitor holds the coin's lock a moment). */
async function call(ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check', id: number): Promise<PayoutResult> {
  let r = await ps.client('pscli').call<PayoutResult>(method, [id]);
  for (let i = 0; r.code === 'busy' && i < 50; i++) {
    await sleep(100);
    r = await ps.client('pscli').call<PayoutResult>(method, [id]);
  }
  return r;
}

describe('an old backup restored after a hot-wallet rotation (Ethereum)', { timeout: 240_000 }, () => {
  it('payserv refuses to start, naming payments of the old wallet after the backup; nothing is paid twice', async () => {
    const { url } = await anvil();
    const ids: number[] = [];
    const l = await processLedger(rotationSeed(3, 41), ethRequests(1, 1, 8401, ids));
    const x = ids[0] as number;
    await createHotKey(l.stateDir, 'ETH');
    const w1 = await hotAddress(l.stateDir);
    await setBalance(url, w1, 10n ** 20n);
    const config = l.config('payserv.toml', { extra: rotationToml(url) });
    let ps = await l.start(config);
    await ps.client('pscli').call('Utils.Enable');

    // The backup B, then X paid from W1.
    const backup = await ps.client('pscli').call<{ path: string }>('Backup.Take');
    expect((await call(ps, 'PayServ.Approve', x)).reply).toBe('SENDING');
    const paid = await call(ps, 'PayServ.Check', x);
    expect(paid.reply, JSON.stringify(paid)).toBe('SENT');
    const payee = (
      await l.withDb((db) => db.query<{ address: string }>('SELECT address FROM finances_withdrawal_transaction WHERE id = $1', [x]))
    )[0]?.address as string;
    await ps.stop('SIGTERM');

    // The rotation to W2: the next key, payserv sweeps, --finish.
    await createHotKey(l.stateDir, 'ETH', nextHotKeyPath(l.stateDir, 'ETH'));
    const w2 = await hotAddress(l.stateDir, nextHotKeyPath(l.stateDir, 'ETH'));
    ps = await l.start(config);
    await ps.client('pscli').call('Utils.Enable');
    expect(await untilFinal(url, l.stateDir)).toMatchObject({ from: w1, to: w2, phase: 'final' });
    await ps.stop('SIGTERM');
    writeFileSync(join(l.stateDir, DEMO_MARKER), 'made by the demo\n'); // a development state directory: key files, no store
    const finish = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH', '--finish'], { PAYSERV_STATE_DIR: l.stateDir });
    expect(finish.code, finish.stderr).toBe(EXIT.OK);
    expect(await hotAddress(l.stateDir)).toBe(w2);

    // The host is lost: B restored onto a fresh host, the key as the store holds it now (W2).
    const ws = await restoreOntoFreshHost(drop, backup.path, l.stateDir);
    copyFileSync(hotKeyPath(l.stateDir, 'ETH'), hotKeyPath(ws.stateDir, 'ETH'));
    // The restored register names W1: its payments after B (X, the sweep) are on the chain, in no restored record.
    await expect(
      startPayservProcess({
        config: writeConfig(join(ws.stateDir, 'payserv.toml'), { extra: rotationToml(url) }),
        stateDir: ws.stateDir,
        databaseUrl: ws.env.DATABASE_URL,
      }),
    ).rejects.toThrow(new RegExp(`hot wallet ${w1} used nonces \\d+\\.\\.\\d+ on the chain.*to ${payee}`, 'i'));
    expect((await paidOnChain(url, [payee])).get(payee.toLowerCase())).toBe(1);
  });
});
