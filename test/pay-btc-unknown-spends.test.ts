// Regression (issue 17, outsider round 3, attack17c-restore-old-btc, high): an OLD backup restored after a
// Bitcoin-family payment paid it again, on a real litecoind. The story of the attack:
//
// Promise broken: never pay twice; issue 17's "backup and restore with nothing paid twice". README "Unknown spends
// from the hot wallet" guards Ethereum (payserv refuses to start naming the nonces it does not account for) and says
// of Zcash "not checked yet"; of the Bitcoin family (added since, `chain = "btc"`) it says nothing, and nothing checks.
//
// Steps: payserv pays LTC on litecoind; a backup is taken while a withdrawal is waiting (`pscli backup`, the only one);
// the withdrawal is approved, broadcast, mined and recorded `sent`. The host is lost; the operator restores that
// backup onto a fresh host (`pscli restore --root`, as README says), starts payserv: it starts without a word (the
// hot wallet's spends on the chain are not compared with its records), and Approve of the same
// withdrawal signs a new transaction from the wallet's remaining outputs: the miner is paid twice on chain.
//
// The fix (src/chains/btc/spends.ts): at start and before each signing, every unspent output of the hot wallet
// (scantxoutset) whose transaction payserv does not know (journal, its stored attempts) is read (getrawtransaction,
// txindex=1); one with an input signed with the hot wallet's key is a spend payserv never made. The payment after
// the backup paid its change back to the wallet: payserv refuses to start naming that transaction, nothing is paid
// again; and a transaction from the key made outside payserv, once mined, is a fail-stop before the next signing.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PayoutResult } from '../src/api/payserv.js';
import { decodeAddress, p2wpkhAddress } from '../src/chains/btc/address.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import type { TestDatabase } from './support/db.js';
import { ltcCoinsToml } from './support/chain-settings.js';
import { ltcPayservProcess, payOnce, restoredElsewhere } from './support/btc-process.js';
import { litecoindForFile } from './support/litecoind.js';
import { coinRequests } from './support/miners.js';
import { killAllChildren, processLedger, startPayservProcess, writeConfig, type PayservChild } from './support/spawn.js';

const drop: TestDatabase[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const t of drop.splice(0)) await t.drop();
});

const litecoind = litecoindForFile();
const NET = preset('LTC-regtest');
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 31 };

// A patient client: the start's check must reach the node under a loaded CI (a timeout there holds the coin, no refusal).
const coinsToml = (url: string) => ltcCoinsToml(url, ['rpc_timeout_ms = 60000']);

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));
const call = (ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check', id: number) =>
  ps.client('pscli').call<PayoutResult>(method, [id]);

describe('unknown spends from a Bitcoin-family hot wallet', { timeout: 240_000 }, () => {
  it('an old backup restored after a payment: payserv refuses to start naming that payment; nothing is paid twice', async () => {
    const node = await litecoind();
    const client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
    const { l, id, hot, ps } = await ltcPayservProcess(node, SEED, 8301, coinsToml(node.url));

    // The backup, while the withdrawal waits for a manager.
    const backup = await ps.client('pscli').call<{ path: string }>('Backup.Take');
    const first = await payOnce(ps, node, id);
    // The host is lost; the only backup is restored onto a fresh host, as README says.
    const { ws, address } = await restoredElsewhere(l, ps, id, backup.path, drop);
    // The payment after the backup is on the chain, its change in the hot wallet, in no restored record.
    await expect(
      startPayservProcess({
        config: writeConfig(join(ws.stateDir, 'payserv.toml'), { extra: coinsToml(node.url) }),
        stateDir: ws.stateDir,
        databaseUrl: ws.env.DATABASE_URL,
      }),
    ).rejects.toThrow(new RegExp(`coin LTC: the hot wallet ${hot} is spent on the chain by ${first}, which payserv's records`));
    const paid = (await client.scanTxOutSet([`addr(${address})`])).unspents;
    expect(paid.map((u) => u.txid)).toEqual([first]); // paid once
    client.close();
  });

  it('the key used outside payserv: the next payment fail-stops naming the transaction, nothing is signed', async () => {
    const node = await litecoind();
    const client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
    const ids: number[] = [];
    const l = await processLedger(SEED, coinRequests('LTC', freshAddress, 1, 1, 8302, ids));
    await createHotKey(l.stateDir, 'LTC');
    const key = await loadHotKey(l.stateDir, 'LTC');
    const wallet = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(key, true));
    const hot = p2wpkhAddress(NET, wallet.publicKey);
    await node.fund(hot, 500_000_000n);
    const ps = await l.start(l.config('payserv.toml', { extra: coinsToml(node.url) }));
    await ps.client('pscli').call('Utils.Enable');

    // A transaction of the hot wallet's key that payserv never made: it pays someone, its change comes back.
    const [u] = (await client.scanTxOutSet([`addr(${hot})`])).unspents;
    if (!u) throw new Error('the hot wallet was not funded');
    const to = decodeAddress(NET, freshAddress());
    if (!to.ok) throw new Error(to.reason);
    const plan = planPayment({
      net: NET,
      wallet,
      utxos: [{ txid: u.txid, vout: u.vout, value: u.amount }],
      outputs: [{ script: to.script, value: 100_000_000n }],
      feeRate: 2n,
    });
    if (plan.kind !== 'ok') throw new Error(plan.kind);
    const stray = signPayment(NET, wallet, plan, key);
    await node.generateBlock([stray.rawHex]);

    const r = await call(ps, 'PayServ.Approve', ids[0] as number);
    expect(r.reply, JSON.stringify(r)).not.toBe('SENDING');
    const alerts = await l.withDb((db) => db.query<{ kind: string; reason: string }>('SELECT kind, reason FROM payserv_alerts'));
    expect(alerts).toContainEqual(
      expect.objectContaining({
        kind: 'fail_stop',
        reason: expect.stringContaining(`the hot wallet ${hot} is spent on the chain by ${stray.txid}`),
      }),
    );
    const address = (
      await l.withDb((db) => db.query<{ address: string }>('SELECT address FROM finances_withdrawal_transaction WHERE id = $1', [ids[0]]))
    )[0]?.address as string;
    expect((await client.scanTxOutSet([`addr(${address})`])).unspents).toEqual([]);
    await ps.stop('SIGTERM');
    client.close();
  });
});
