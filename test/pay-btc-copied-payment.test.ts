// Regression (issue 18, outsider round 2: a database attacker blinding the Bitcoin-family unknown-spend check).
//
// The check (README "Unknown spends from the hot wallet", src/chains/btc/spends.ts) reads each unspent output of the
// hot wallet whose transaction payserv does not know. It used to "know" a transaction when payserv_chain_txs held
// bytes hashing to its txid; the table is not signed and a mined transaction's bytes are public (any node's
// getrawtransaction): a database attacker copied them in. Now a stored row counts only when the signed ledger names
// it (AttemptStorage.ownAttempt: a verified `sending` entry of a withdrawal its row names; src/payserv/payments/stored.ts).
//
// Story (the restore case the check exists for, test/pay-btc-unknown-spends.test.ts): payserv pays LTC; a backup
// is taken while a withdrawal waits; the withdrawal is paid, mined, sent. The host is lost, the operator
// restores that backup on a fresh host. Before payserv starts, the database attacker inserts one row into
// payserv_chain_txs: the payment's bytes, read from the chain. Before the fix payserv started (no unknown spend),
// and Approve paid the withdrawal again.
//
// The promise asserted: the restored payserv refuses to start naming the payment on the chain; the miner is paid once.
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { PayoutResult } from '../src/api/payserv.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { storedAttemptRow } from './support/attacker.js';
import { backend, type TestDatabase } from './support/db.js';
import { ltcCoinsToml } from './support/chain-settings.js';
import { ltcPayservProcess, payOnce, restoredElsewhere } from './support/btc-process.js';
import { litecoindForFile } from './support/litecoind.js';
import { killAllChildren, startPayservProcess, writeConfig, type PayservChild } from './support/spawn.js';

const drop: TestDatabase[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const t of drop.splice(0)) await t.drop();
});

const litecoind = litecoindForFile();
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 33 };
const coinsToml = (url: string) => ltcCoinsToml(url, ['rpc_timeout_ms = 60000']);
const call = (ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check', id: number) =>
  ps.client('pscli').call<PayoutResult>(method, [id]);

// The attacker needs SQL on the restored database: a PostgreSQL one (the pglite project's is embedded in the host's state dir).
describe.skipIf(backend() !== 'postgres')(
  'Bitcoin family: a payment copied into the stored payments hides no unknown spend',
  { timeout: 240_000 },
  () => {
    it('a restored older backup with the later payment copied into payserv_chain_txs: still refused, paid once', async () => {
      const node = await litecoind();
      const client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
      const { l, id, hot, ps } = await ltcPayservProcess(node, SEED, 8401, coinsToml(node.url));

      const backup = await ps.client('pscli').call<{ path: string }>('Backup.Take');
      const first = await payOnce(ps, node, id);
      const { ws, address } = await restoredElsewhere(l, ps, id, backup.path, drop);

      // The database attacker: the payment's bytes from the chain, into the restored database's payment records.
      const raw = (await client.getRawTransaction(first))?.hex as string;
      const db = new pg.Client({ connectionString: ws.env.DATABASE_URL });
      await db.connect();
      await db.query(...storedAttemptRow('LTC', first, id, raw));
      await db.end();

      let restarted: PayservChild | null = null;
      let refusal: string | null = null;
      try {
        restarted = await startPayservProcess({
          config: writeConfig(join(ws.stateDir, 'payserv.toml'), { extra: coinsToml(node.url) }),
          stateDir: ws.stateDir,
          databaseUrl: ws.env.DATABASE_URL,
        });
      } catch (e) {
        refusal = (e as Error).message;
      }
      if (restarted) {
        // It started: the withdrawal paid after the backup looks unpaid. Approve it again.
        await restarted.client('pscli').call('Utils.Enable');
        const again = await call(restarted, 'PayServ.Approve', id);
        await node.mine(1);
        console.log(`pay-btc-copied-payment: payserv started; Approve again: ${again.reply} ${again.txHash ?? again.message ?? ''}`);
      }
      const paid = (await client.scanTxOutSet([`addr(${address})`])).unspents;
      console.log(`pay-btc-copied-payment: outputs to the miner: ${paid.map((u) => `${u.txid}:${u.amount}`).join(', ')}`);
      expect(paid.map((u) => u.txid)).toEqual([first]); // paid once
      expect(refusal ?? 'payserv started').toMatch(new RegExp(`coin LTC: the hot wallet ${hot} is spent on the chain by ${first}`));
      client.close();
    });
  },
);
